/**
 * The cross-implementation benchmark driver (issue 14):
 * `deno task bench:compare [--quick] [--only W1,W3] [--impl gevent,raw-deno]
 * [--rounds N] [--write | --no-write]`.
 *
 * It runs each workload of `spec.ts` in a fresh process per implementation
 * — gevent-ts on Deno (sources) and on Node 20 (the built npm bundle, built
 * here when missing or older than the sources), real gevent on CPython
 * (`gevent_impl.py`; installed with apt when missing), Effection, the npm
 * peers (p-queue, async-mutex, p-limit) and the raw-promise floor on Deno
 * and Node — for three rounds, round-robin across implementations, and
 * collects one JSON line per process. W8's HTTP server runs in its own Node
 * process. The result: `BENCHMARKS.md` (generated; medians, ratios, min–max
 * spread, versions, machine, targets) and `bench/compare/chart.svg`, plus
 * `bench/compare/results.json` (every sample). `--quick` (smaller sizes, one
 * round) and filtered runs print the report but write nothing unless
 * `--write` is given.
 *
 * @module
 */
import * as esbuild from "esbuild";
import {
  IMPLS,
  type ImplSpec,
  type Params,
  WORKLOADS,
  type WorkloadSpec,
} from "./spec.ts";
import {
  chartGroups,
  formatValue,
  renderMarkdown,
  renderSvg,
  type Results,
  type Sample,
  targets,
  targetsTable,
  workloadTable,
} from "./report.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const HERE = `${ROOT}bench/compare/`;
const PYTHON = "/usr/bin/python3";
const decoder = new TextDecoder();

// ---- command line -------------------------------------------------------

const argv = [...Deno.args];
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  argv.splice(i, 2);
  return v;
}
function flag(name: string): boolean {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
}
const quick = flag("--quick");
const forceWrite = flag("--write");
const noWrite = flag("--no-write");
const only = option("--only")?.split(",").map((s) => s.trim().toUpperCase());
const implFilter = option("--impl")?.split(",").map((s) => s.trim());
const rounds = Number(option("--rounds") ?? (quick ? 1 : 3));
if (argv.length > 0) {
  console.error(
    `unknown arguments: ${argv.join(" ")}\n` +
      "usage: deno task bench:compare [--quick] [--only W1,W6] [--impl gevent-ts-deno,gevent] [--rounds N] [--write|--no-write]",
  );
  Deno.exit(2);
}
if (!(Number.isInteger(rounds) && rounds >= 1)) {
  throw new Error("--rounds: a positive integer");
}

/** `W6` selects W6a and W6b. */
const workloads: WorkloadSpec[] = WORKLOADS.filter((w) =>
  only === undefined || only.some((o) => w.id.toUpperCase().startsWith(o))
);
/** `raw` selects raw-deno and raw-node. */
let impls: ImplSpec[] = IMPLS.filter((i) =>
  implFilter === undefined ||
  implFilter.some((f) => i.id === f || i.id.startsWith(`${f}-`))
);
if (workloads.length === 0 || impls.length === 0) {
  throw new Error(
    `nothing selected; workloads: ${
      WORKLOADS.map((w) => w.id).join(", ")
    }; implementations: ${IMPLS.map((i) => i.id).join(", ")}`,
  );
}
const write = forceWrite ||
  (!noWrite && !quick && only === undefined && implFilter === undefined);

// ---- helpers ------------------------------------------------------------

/** Runs a command to its end; never throws (a missing program is a failure). */
async function exec(
  cmd: string,
  args: string[],
  timeoutMs = 15 * 60_000,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: ROOT,
      stdin: "null",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return {
      ok: out.success,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } catch (e) {
    return { ok: false, stdout: "", stderr: String(e) };
  }
}

const notes: string[] = [];
const log = (s: string) => console.error(s);

// ---- gevent -------------------------------------------------------------

/** CPython, gevent and greenlet versions, or why gevent is unavailable. */
async function ensureGevent(): Promise<
  { python: string; gevent: string; greenlet: string } | { missing: string }
> {
  const probe = () =>
    exec(PYTHON, [
      "-c",
      "import sys, gevent, greenlet; print(sys.version.split()[0], gevent.__version__, greenlet.__version__)",
    ]);
  let r = await probe();
  if (!r.ok) {
    log(
      `gevent is not importable by ${PYTHON}: installing python3-gevent with apt-get`,
    );
    const apt = Deno.uid() === 0 ? ["apt-get"] : ["sudo", "-n", "apt-get"];
    let inst = await exec(apt[0], [
      ...apt.slice(1),
      "install",
      "-y",
      "python3-gevent",
    ]);
    if (!inst.ok) {
      log("apt-get install failed; running apt-get update and trying again");
      await exec(apt[0], [...apt.slice(1), "update"]);
      inst = await exec(apt[0], [
        ...apt.slice(1),
        "install",
        "-y",
        "python3-gevent",
      ]);
    }
    r = await probe();
    if (!r.ok) {
      return {
        missing: `could not install python3-gevent with ${apt.join(" ")} (${
          (inst.stderr.trim().split("\n").pop() ?? "").slice(0, 200)
        }); gevent rows are n/a and no ratio against gevent is computed`,
      };
    }
    notes.push("python3-gevent was installed by this run with apt-get.");
  }
  const [python, gevent, greenlet] = r.stdout.trim().split(/\s+/);
  return { python, gevent, greenlet };
}

// ---- the npm bundle and the Node entry points ---------------------------

/** Builds `npm/` when it is missing or older than a root `.ts` file. */
async function ensureBundle(): Promise<string> {
  const lib = `${ROOT}npm/esm/mod.js`;
  const core = `${ROOT}npm/cjs/_core.cjs`;
  let built = 0;
  try {
    built = Math.min(
      Deno.statSync(lib).mtime!.getTime(),
      Deno.statSync(core).mtime!.getTime(),
    );
  } catch { /* missing */ }
  let newest = 0;
  let newestName = "";
  for (const e of Deno.readDirSync(ROOT)) {
    if (!e.isFile || !e.name.endsWith(".ts")) continue;
    const t = Deno.statSync(`${ROOT}${e.name}`).mtime!.getTime();
    if (t > newest) [newest, newestName] = [t, e.name];
  }
  if (built === 0 || built < newest) {
    log(
      built === 0
        ? "npm/ bundle missing: building it (scripts/build_npm.ts)"
        : `npm/ bundle older than ${newestName}: rebuilding it`,
    );
    const r = await exec(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "scripts/build_npm.ts",
    ]);
    if (!r.ok) throw new Error(`npm build failed:\n${r.stdout}\n${r.stderr}`);
    log(r.stdout.trim());
  }
  return lib;
}

/** Bundles the Node entry points (not the library) into a temporary dir. */
async function bundleNodeEntries(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bench-compare-" });
  await esbuild.build({
    entryPoints: [
      "impl_gevent_ts_node.ts",
      "impl_raw.ts",
      "impl_effection.ts",
      "impl_peers.ts",
      "server.ts",
    ].map((f) => `${HERE}${f}`),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  await esbuild.stop();
  return dir;
}

// ---- W8's server --------------------------------------------------------

interface Server {
  port: number;
  stop(): Promise<number>;
}

async function startServer(nodeDir: string): Promise<Server> {
  const child = new Deno.Command("node", {
    args: [`${nodeDir}/server.mjs`],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const lines = child.stdout
    .pipeThrough(new TextDecoderStream())
    .getReader();
  let buffered = "";
  const nextLine = async () => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the W8 server exited");
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return JSON.parse(line);
  };
  const { port } = await nextLine();
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      const { served } = await nextLine();
      await child.status;
      return served;
    },
  };
}

// ---- one run ------------------------------------------------------------

function commandOf(
  impl: ImplSpec,
  w: WorkloadSpec,
  params: Params,
  nodeDir: string,
  lib: string,
): [string, string[]] {
  const json = JSON.stringify(params);
  const gc = w.id === "W4";
  if (impl.runtime === "python") {
    return [PYTHON, [`${HERE}gevent_impl.py`, w.id, json]];
  }
  const base = impl.family === "gevent-ts"
    ? "impl_gevent_ts"
    : `impl_${impl.family}`;
  if (impl.runtime === "deno") {
    return [Deno.execPath(), [
      "run",
      "-A",
      ...(gc ? ["--v8-flags=--expose-gc"] : []),
      `${HERE}${base}.ts`,
      w.id,
      json,
    ]];
  }
  const file = impl.family === "gevent-ts" ? `${base}_node.mjs` : `${base}.mjs`;
  return ["node", [
    ...(gc ? ["--expose-gc"] : []),
    `${nodeDir}/${file}`,
    w.id,
    json,
    ...(impl.family === "gevent-ts" ? [lib] : []),
  ]];
}

async function runOne(
  impl: ImplSpec,
  w: WorkloadSpec,
  params: Params,
  nodeDir: string,
  lib: string,
): Promise<Sample> {
  const [cmd, args] = commandOf(impl, w, params, nodeDir, lib);
  const r = await exec(cmd, args);
  const line = r.stdout.trim().split("\n").reverse().find((l) =>
    l.startsWith("{")
  );
  let parsed: Sample & { impl?: string; workload?: string } = {};
  try {
    parsed = line === undefined ? {} : JSON.parse(line);
  } catch { /* below */ }
  if (parsed.metrics === undefined && parsed.na === undefined) {
    return {
      error: parsed.error ??
        `exit ${r.ok ? 0 : "≠0"}; ${r.stderr.trim().slice(-500)}`,
    };
  }
  if (parsed.impl !== impl.id || parsed.workload !== w.id) {
    return { error: `answered as ${parsed.impl}/${parsed.workload}` };
  }
  const { impl: _i, workload: _w, ...sample } = parsed;
  return sample;
}

// ---- versions and machine -----------------------------------------------

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** A /proc file: Deno grants /proc only with --allow-all, so `cat` reads it. */
async function readProc(path: string): Promise<string> {
  return (await exec("cat", [path])).stdout;
}

async function machineLine(): Promise<string> {
  const cpu = await readProc("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpu)?.[1] ?? "unknown CPU";
  const cores = cpu.match(/^processor\s*:/gm)?.length ?? navigator
    .hardwareConcurrency;
  const os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readText("/etc/os-release"))
    ?.[1] ?? Deno.build.os;
  const memKb = Number(
    /^MemTotal:\s+(\d+) kB$/m.exec(await readProc("/proc/meminfo"))?.[1] ?? 0,
  );
  return `${model}, ${cores} cores, ${
    (memKb / 2 ** 20).toFixed(0)
  } GiB RAM, ${os}, Linux ${
    (await readProc("/proc/sys/kernel/osrelease")).trim()
  } (shared and noisy: figures move by several per cent between runs)`;
}

function npmVersion(name: string): string {
  try {
    return JSON.parse(readText(`${ROOT}node_modules/${name}/package.json`))
      .version;
  } catch {
    return "not installed";
  }
}

// ---- main ---------------------------------------------------------------

const started = performance.now();
const geventInfo = impls.some((i) => i.id === "gevent")
  ? await ensureGevent()
  : undefined;
if (geventInfo !== undefined && "missing" in geventInfo) {
  log(`gevent unavailable: ${geventInfo.missing}`);
  notes.push(`gevent unavailable: ${geventInfo.missing}.`);
  impls = impls.filter((i) => i.id !== "gevent");
}
const lib = impls.some((i) => i.id === "gevent-ts-node")
  ? await ensureBundle()
  : "";
const nodeDir = impls.some((i) => i.runtime === "node") ||
    workloads.some((w) => w.id === "W8")
  ? await bundleNodeEntries()
  : "";
const server = workloads.some((w) => w.id === "W8")
  ? await startServer(nodeDir)
  : undefined;

const results: Results = {};
let served = 0;
try {
  for (let round = 1; round <= rounds; round++) {
    for (const w of workloads) {
      const params: Params = {
        ...(quick ? w.quick : w.full),
        ...(server ? { port: server.port } : {}),
      };
      for (const impl of impls) {
        const t0 = performance.now();
        const sample = await runOne(impl, w, params, nodeDir, lib);
        ((results[w.id] ??= {})[impl.id] ??= []).push(sample);
        const m = w.metrics[0];
        const figure = sample.metrics?.[m.key];
        log(
          `round ${round}/${rounds} ${w.id} ${impl.label}: ${
            figure !== undefined
              ? `${formatValue(figure, m.unit)} ${m.label}`
              : sample.na !== undefined
              ? `n/a (${sample.na})`
              : `FAILED: ${sample.error?.split("\n")[0]}`
          } [${((performance.now() - t0) / 1000).toFixed(1)} s]`,
        );
      }
    }
  }
} finally {
  if (server) served = await server.stop();
}
if (nodeDir) await Deno.remove(nodeDir, { recursive: true });

const nodeVersion = (await exec("node", ["--version"])).stdout.trim();
const versions: [string, string][] = [
  ["Deno", `${Deno.version.deno} (V8 ${Deno.version.v8})`],
  ["Node", nodeVersion],
  [
    "CPython",
    geventInfo && "python" in geventInfo ? geventInfo.python : "n/a",
  ],
  [
    "gevent",
    geventInfo && "gevent" in geventInfo
      ? `${geventInfo.gevent} (greenlet ${geventInfo.greenlet})`
      : "n/a",
  ],
  ["gevent-ts", JSON.parse(readText(`${ROOT}deno.json`)).version],
  ...["effection", "p-limit", "p-queue", "async-mutex", "esbuild"].map((
    p,
  ): [string, string] => [p, npmVersion(p)]),
];
if (server) {
  notes.push(
    `W8's server (node:http in its own Node process, keep-alive 60 s) served ${
      served.toLocaleString("en-US")
    } requests in this run.`,
  );
}
notes.push(
  "Effection's `sleep(0)` is a `setTimeout(0)` (about 1 ms a turn), so its W1/W2 yield is `yield* until(Promise.resolve())`, the analogue of `await null` (a synchronous `action` that resolves at once measured about 15 % faster in development; neither changes the picture). Effection has no semaphore, bounded queue or pool: W5, W6a and W8 are n/a for it.",
  "W4: the JS figures are `process.memoryUsage()` deltas after two `gc()` calls (`--expose-gc`), heap = `heapUsed`; gevent's RSS figure is the VmRSS delta of a first batch after `gc.collect()`, its heap figure the tracemalloc delta of a second batch (tracemalloc does not see CPython's frame chunks, so the RSS figure is the one the target uses).",
  "W7's targets compare wall times, as the issue words them; the table also shows the time over the ideal 100 ms (wall − 100 ms), which every implementation's wall time includes.",
  "W8: every JS client uses the runtime's global `fetch` with its default keep-alive pool (undici on Node, Deno's own client on Deno); gevent uses `http.client` (socket monkey-patched) with a pool of up to 100 keep-alive connections. Client and server share the machine's two cores.",
  "On Node, gevent-ts is the built npm package (`npm/esm/mod.js`, from `scripts/build_npm.ts`) imported at run time; only the bench's own files and the npm peers are bundled by esbuild for Node. p-queue is pinned to 9.x, whose `engines` (node >= 20) allow Node 20 (p-queue 10 wants node >= 22).",
);

const markdown = renderMarkdown(workloads, impls, results, {
  date: new Date().toISOString().slice(0, 10),
  command: `deno task bench:compare${
    Deno.args.length ? ` ${Deno.args.join(" ")}` : ""
  }`,
  machine: await machineLine(),
  versions,
  rounds,
  chart: "bench/compare/chart.svg",
  notes,
});
const svg = renderSvg(
  chartGroups(workloads, impls, results),
  "gevent-ts and peers: times better than gevent (main figure of each workload, log scale)",
);

for (const w of workloads) {
  console.log(`\n## ${w.title}\n\n${workloadTable(w, impls, results)}`);
}
console.log(`\n## Targets\n\n${targetsTable(targets(workloads, results))}`);
if (write) {
  // sections written elsewhere are kept: the HTTP servers' (`deno task
  // bench:http`, bench/http.ts), the thread pool's (hand-written, issue 25)
  const kept = (await Deno.readTextFile(`${ROOT}BENCHMARKS.md`).catch(() => ""))
    .match(/<!-- ([\w:]+) begin[\s\S]*?<!-- \1 end -->/g) ?? [];
  await Deno.writeTextFile(
    `${ROOT}BENCHMARKS.md`,
    kept.length === 0
      ? markdown
      : `${markdown.trimEnd()}\n\n${kept.join("\n\n")}\n`,
  );
  await Deno.writeTextFile(`${HERE}chart.svg`, svg);
  await Deno.writeTextFile(
    `${HERE}results.json`,
    JSON.stringify({ versions, rounds, results }, null, 2) + "\n",
  );
  // the repository's `deno fmt --check` covers these files: leave them formatted
  const fmt = await exec(Deno.execPath(), [
    "fmt",
    "BENCHMARKS.md",
    "bench/compare/chart.svg",
    "bench/compare/results.json",
  ]);
  if (!fmt.ok) throw new Error(`deno fmt failed: ${fmt.stderr}`);
  log(
    "\nwrote BENCHMARKS.md, bench/compare/chart.svg, bench/compare/results.json",
  );
} else {
  log(
    "\n(not written: --quick or a filter; pass --write to write BENCHMARKS.md)",
  );
}
log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
