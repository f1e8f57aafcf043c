/**
 * Runs the whole suite (`deno task test`, part of `npm test`): the npm build,
 * then Deno on the sources (sanitizers on, doc examples included, and the
 * packed tarball and URL-import checks), then Node's test runner on the
 * built ESM and CJS bundles. Ends with one line
 * `N passed, N failed` over both runtimes and exits non-zero on any failure.
 *
 * @module
 */

const decoder = new TextDecoder();

/** Runs a command, echoing its output; resolves with exit code and text. */
async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; text: string }> {
  console.log(`\n$ ${cmd} ${args.join(" ")}`);
  const child = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  let text = "";
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    out: { write(p: Uint8Array): Promise<number> },
  ) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await out.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, text };
}

function count(text: string, re: RegExp): number {
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
}

const deno = Deno.execPath();
const results: { name: string; passed: number; failed: number; ok: boolean }[] =
  [];

const b = await run(deno, [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "scripts/build_npm.ts",
]);
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
]);
results.push({
  name: "Deno (sources)",
  passed: count(d.text, /\| (\d+) passed/),
  failed: count(d.text, /\| (\d+) failed/),
  ok: d.code === 0,
});

if (b.code !== 0) {
  results.push({ name: "npm build", passed: 0, failed: 1, ok: false });
} else {
  const n = await run("node", ["--test", "npm/test/"]);
  results.push({
    name: "Node (ESM + CJS bundles)",
    passed: count(n.text, /^# pass (\d+)$/m),
    failed: count(n.text, /^# fail (\d+)$/m),
    ok: n.code === 0,
  });
}

console.log("");
for (const r of results) {
  console.log(
    `${r.name}: ${r.passed} passed, ${r.failed} failed${
      r.ok ? "" : " (exit code non-zero)"
    }`,
  );
}
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
const allOk = results.every((r) => r.ok) && failed === 0;
console.log(`${passed} passed, ${allOk ? failed : Math.max(failed, 1)} failed`);
Deno.exit(allOk ? 0 : 1);
