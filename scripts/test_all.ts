/**
 * Runs the whole suite: `deno task test` (the npm build, Deno on the sources,
 * Node on the built bundles) and, with `--ci`, `deno task ci` / `npm test`
 * (first the static checks: fmt, lint, types, JSDoc, the JSR dry run).
 *
 * Quiet by default: one line per phase and per test file,
 *
 * ```
 * ok    deno lint
 * ok    deno test hub_test.ts: 35 passed
 * FAIL  node --test cjs/patch_test.cjs: 40 passed, 1 failed, 1 skipped
 * ```
 *
 * and the full output of a phase or test file that failed (`deno test` runs
 * every Deno file in one process: its whole output). Commands run two at a
 * time (the static checks and the build side by side; `deno test
 * --parallel`; the Node files), their lines in a fixed order, each phase
 * with its wall time, and the whole run's last but one. `--verbose` streams every
 * command's output as it runs (the Deno files' lines come after `deno test`'s
 * output). The last line is always
 * `N passed, N failed` over both runtimes (a failed phase counts as one
 * failure); the exit code is non-zero on any failure.
 *
 * @module
 */

const USAGE = "usage: test_all.ts [--ci] [--verbose]";
const args = new Set(Deno.args);
for (const a of args) {
  if (a !== "--ci" && a !== "--verbose") {
    console.error(`unknown argument ${a}\n${USAGE}`);
    Deno.exit(2);
  }
}
const CI = args.has("--ci");
const VERBOSE = args.has("--verbose");
/** A command that runs longer than this is killed and fails (a hung test). */
const TIMEOUT_MS = 20 * 60_000;

const encoder = new TextEncoder();
const deno = Deno.execPath();

/** Writes one line to stdout at once (no buffering behind child output). */
function say(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

interface Ran {
  code: number;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
  /** Wall time, ms. */
  ms: number;
}

/**
 * Runs a command to its end, collecting its output; with `--verbose` it also
 * streams it. `onLine` sees each complete line as it arrives.
 */
async function run(
  cmd: string,
  cmdArgs: string[],
  onLine?: (line: string) => void,
): Promise<Ran> {
  if (VERBOSE) say(`\n$ ${cmd === deno ? "deno" : cmd} ${cmdArgs.join(" ")}`);
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  let output = "";
  let partial = "";
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    out: { writeSync(p: Uint8Array): number },
  ) => {
    const streamDecoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = streamDecoder.decode(chunk, { stream: true });
      output += text;
      if (VERBOSE) out.writeSync(chunk);
      if (onLine !== undefined && out === Deno.stdout) {
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) onLine(line);
      }
    }
  };
  const timer = setTimeout(() => {
    output += `\n[test_all: killed after ${TIMEOUT_MS / 60_000} minutes]\n`;
    child.kill("SIGKILL");
  }, TIMEOUT_MS);
  try {
    const [status] = await Promise.all([
      child.status,
      pump(child.stdout, Deno.stdout),
      pump(child.stderr, Deno.stderr),
    ]);
    if (onLine !== undefined && partial !== "") onLine(partial);
    return { code: status.code, output, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

let passed = 0;
let failed = 0;

/** Prints a failed command's output (unless it was streamed already). */
function showOutput(ran: Ran): void {
  if (VERBOSE) return;
  say(ran.output.trimEnd());
  say("");
}

/** Seconds, for the report: `(12.3 s)`. */
function secs(ms: number): string {
  return `(${(ms / 1000).toFixed(1)} s)`;
}

/**
 * Two commands at a time (the machines have 2 cores; one with `--verbose`,
 * whose output streams): `slot()` resolves when one may start; `free()`
 * lets the next one go.
 */
const slots = { free: VERBOSE ? 1 : 2, queue: [] as (() => void)[] };
function slot(): Promise<void> {
  if (slots.free > 0) {
    slots.free -= 1;
    return Promise.resolve();
  }
  return new Promise((resolve) => slots.queue.push(resolve));
}
function free(): void {
  const next = slots.queue.shift();
  if (next !== undefined) next();
  else slots.free += 1;
}

/** `run` in a slot: at most two commands at once. */
async function runInSlot(cmd: string, cmdArgs: string[]): Promise<Ran> {
  await slot();
  try {
    return await run(cmd, cmdArgs);
  } finally {
    free();
  }
}

/**
 * A phase with no test counts, started now (in a slot); `report()` prints
 * its line, and its output if it failed, and says whether it passed.
 */
function phase(
  label: string,
  cmd: string,
  cmdArgs: string[],
  detail?: (output: string) => string,
): { report(): Promise<boolean> } {
  const ran = runInSlot(cmd, cmdArgs);
  return {
    async report() {
      const r = await ran;
      const ok = r.code === 0;
      const more = ok && detail ? `: ${detail(r.output)}` : "";
      say(`${ok ? "ok  " : "FAIL"}  ${label}${more} ${secs(r.ms)}`);
      if (!ok) {
        failed += 1;
        showOutput(r);
      }
      return ok;
    },
  };
}

function counts(p: number, f: number, skipped: number): string {
  return `${p} passed` + (f > 0 ? `, ${f} failed` : "") +
    (skipped > 0 ? `, ${skipped} skipped` : "");
}

const started = performance.now();
// The static checks and the build run side by side, two at a time; their
// lines come in this order.
const checks = CI
  ? [
    phase("deno fmt --check", deno, ["fmt", "--check"]),
    phase("deno lint", deno, ["lint"]),
    phase(
      "deno task check (types, @example and README code blocks too)",
      deno,
      [
        "task",
        "-q",
        "check",
      ],
    ),
    phase("deno doc --lint (JSDoc of the entry points)", deno, [
      "run",
      "--allow-read",
      "--allow-run",
      "scripts/doc_lint.ts",
    ]),
    phase("deno publish --dry-run (the JSR package)", deno, [
      "publish",
      "--dry-run",
      "--allow-dirty",
    ]),
  ]
  : [];
const build = phase("npm build", deno, [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "scripts/build_npm.ts",
], (out) => out.trim().split("\n").at(-1)!.replace(/^built /, ""));
for (const c of checks) await c.report();
const built = await build.report();

// Deno on the sources: one `deno test` (one type-check) for every file; its
// report is read as it streams, a line per test file as each one finishes.
{
  interface FileCount {
    passed: number;
    failed: number;
    ignored: number;
  }
  const docs: FileCount = { passed: 0, failed: 0, ignored: 0 };
  const docFiles = new Set<string>();
  let current: { name: string; count: FileCount } | null = null;
  let inOutput = false;
  let done = false;
  // With --verbose, deno's own output streams: its test lines arrive in
  // pieces (`name ...`, then `ok`), so ours wait for the end of the run.
  const held: string[] = [];
  const report = (line: string) => VERBOSE ? held.push(line) : say(line);
  const finish = () => {
    if (current === null || current.name.includes("#")) return;
    const c = current.count;
    report(
      `${c.failed === 0 ? "ok  " : "FAIL"}  deno test ${
        current.name.replace(/^\.\//, "")
      }: ${counts(c.passed, c.failed, c.ignored)}`,
    );
  };
  // --parallel: each result line names its module (`./a_test.ts => name
  // ... ok`), modules interleave; a line per module at the end
  const parallel = new Map<string, FileCount>();
  const onLine = (line: string) => {
    if (done) return;
    // (with --parallel a marker may follow another module's `name ...`)
    if (/-+ (post-test )?output -+$/.test(line)) inOutput = true;
    else if (/-+ (post-test )?output end -+$/.test(line)) inOutput = false;
    if (inOutput) return;
    const p = /^(\S+) => .* \.\.\. (ok|FAILED|ignored)\b/.exec(line);
    if (p !== null) {
      const name = p[1];
      const doc = name.includes("#");
      if (doc) docFiles.add(name.replace(/#.*$/, ""));
      let c = doc ? docs : parallel.get(name);
      if (c === undefined) {
        parallel.set(name, c = { passed: 0, failed: 0, ignored: 0 });
      }
      if (p[2] === "ok") c.passed += 1;
      else if (p[2] === "FAILED") c.failed += 1;
      else c.ignored += 1;
      return;
    }
    const file = /^running \d+ tests? from (\S+)$/.exec(line);
    if (file !== null) {
      finish();
      const name = file[1];
      // `@example` blocks and README code blocks: `./hub.ts#45-53.ts`
      const doc = name.includes("#");
      if (doc) docFiles.add(name.replace(/#.*$/, ""));
      current = {
        name,
        count: doc ? docs : { passed: 0, failed: 0, ignored: 0 },
      };
      return;
    }
    if (/^(ERRORS|FAILURES)\s*$/.test(line) || /^(ok|FAILED) \| /.test(line)) {
      finish();
      for (const [name, c] of parallel) {
        current = { name, count: c };
        finish();
      }
      current = null;
      done = true;
      return;
    }
    const result = /^\S.* \.\.\. (ok|FAILED|ignored)\b/.exec(line);
    if (result !== null && current !== null) {
      const c = current.count;
      if (result[1] === "ok") c.passed += 1;
      else if (result[1] === "FAILED") c.failed += 1;
      else c.ignored += 1;
    }
  };
  const d = await run(deno, [
    "test",
    "--allow-run",
    "--allow-read",
    "--allow-write",
    "--allow-net=127.0.0.1",
    "--allow-env",
    "--sanitize-ops",
    "--sanitize-resources",
    "--doc",
    // a worker per core: the files run two at a time
    "--parallel",
    // with --ci the types phase has checked the same files and code blocks
    ...(CI ? ["--no-check"] : []),
  ], onLine);
  if (!done) finish();
  held.forEach(say);
  if (docFiles.size > 0) {
    say(
      `${
        docs.failed === 0 ? "ok  " : "FAIL"
      }  deno test code blocks of ${docFiles.size} files (@example, README): ${
        counts(docs.passed, docs.failed, docs.ignored)
      }`,
    );
  }
  say(`      deno test, all files ${secs(d.ms)}`);
  const summary = /^(ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/m.exec(
    d.output,
  );
  const p = summary ? Number(summary[2]) : 0;
  const f = summary ? Number(summary[3]) : 0;
  passed += p;
  failed += f;
  if (d.code !== 0 || summary === null) {
    if (f === 0) failed += 1; // it failed before reporting (type check, crash)
    say(`FAIL  deno test (exit code ${d.code}): its whole output follows`);
    showOutput(d);
  }
}

// Node on the built bundles: each test file of npm/test/{esm,cjs} on its
// own, two at a time; their lines in order.
if (built) {
  const t0 = performance.now();
  const files = ["esm", "cjs"].flatMap((format) =>
    [...Deno.readDirSync(`npm/test/${format}`)]
      .filter((e) => e.isFile && /_test\.[mc]js$/.test(e.name))
      .map((e) => `${format}/${e.name}`)
      .sort()
  );
  // the longest file starts first (patch_test's 20,000-fetch heap check,
  // ~15 s, in the ESM build only), so the two slots end together
  const LONGEST = "esm/patch_test.mjs";
  const order = [LONGEST, ...files.filter((f) => f !== LONGEST)];
  const runs = new Map<string, Promise<Ran>>();
  for (const file of order) {
    runs.set(
      file,
      runInSlot("node", ["--test", "--test-reporter=tap", `npm/test/${file}`]),
    );
  }
  for (const file of files) {
    const n = await runs.get(file)!;
    const tap = (key: string) =>
      Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(n.output)?.[1] ?? 0);
    const p = tap("pass");
    const f = tap("fail") + tap("cancelled");
    const ok = n.code === 0 && f === 0;
    passed += p;
    failed += ok ? 0 : Math.max(f, 1);
    say(
      `${ok ? "ok  " : "FAIL"}  node --test ${file}: ${
        counts(p, f, tap("skipped") + tap("todo"))
      }`,
    );
    if (!ok) showOutput(n);
  }
  say(`      node --test, all files ${secs(performance.now() - t0)}`);
}

say(`      wall time ${secs(performance.now() - started)}`);
say(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
