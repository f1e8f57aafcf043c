/**
 * Memory per greenlet (`deno task bench:memory`), on Deno (the sources) and
 * on Node (this file bundled by esbuild): heap and RSS growth per greenlet
 * blocked on a `Semaphore(0)` (a plain function returning the wait, and an
 * async function awaiting it), and per finished greenlet still referenced.
 * One process per scenario and runtime (RSS does not shrink back between
 * scenarios), 100,000 greenlets, after two full GCs.
 *
 * @module
 */
import process from "node:process";
import { joinAll, Semaphore, sleep, spawn } from "../mod.ts";

const N = 100_000;
const gc = (globalThis as { gc?: () => void }).gc;

function sample(): { heap: number; rss: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** Bytes per greenlet of heap and RSS while `make` holds `N` of them. */
async function perGreenlet(
  make: (n: number) => Promise<() => Promise<void>>,
): Promise<{ heap: number; rss: number }> {
  await sleep(0);
  const before = sample();
  const end = await make(N);
  await sleep(0);
  const during = sample();
  await end();
  return {
    heap: (during.heap - before.heap) / N,
    rss: (during.rss - before.rss) / N,
  };
}

const SCENARIOS: Record<string, (n: number) => Promise<() => Promise<void>>> = {
  "blocked: () => sem.acquire()": async (n) => {
    const sem = new Semaphore(0);
    const gs = new Array(n);
    for (let i = 0; i < n; i++) gs[i] = spawn(() => sem.acquire());
    await sleep(0);
    return async () => {
      for (let i = 0; i < n; i++) sem.release();
      await joinAll(gs);
    };
  },
  "blocked: async () => { await sem.acquire(); }": async (n) => {
    const sem = new Semaphore(0);
    const gs = new Array(n);
    for (let i = 0; i < n; i++) {
      gs[i] = spawn(async () => {
        await sem.acquire();
      });
    }
    await sleep(0);
    return async () => {
      for (let i = 0; i < n; i++) sem.release();
      await joinAll(gs);
    };
  },
  "finished, still referenced": async (n) => {
    const gs = new Array(n);
    for (let i = 0; i < n; i++) gs[i] = spawn(() => i);
    await joinAll(gs);
    return () => {
      gs.length = 0;
      return Promise.resolve();
    };
  },
};

const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
const argv = deno
  ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args
  : process.argv.slice(2);

if (argv[0] === "child") {
  const r = await perGreenlet(SCENARIOS[argv[1]]);
  const runtime = deno
    ? `Deno ${
      (globalThis as { Deno?: { version: { deno: string } } }).Deno!.version
        .deno
    }`
    : `Node ${process.version}`;
  console.log(JSON.stringify({ runtime, ...r }));
} else {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const self = new URL(import.meta.url).pathname;
  const root = new URL("..", import.meta.url).pathname;
  const run = (exe: string, args: string[]) =>
    JSON.parse(
      execFileSync(exe, args, { encoding: "utf8" }).trim().split("\n").pop()!,
    );
  const bundle = `${mkdtempSync(`${tmpdir()}/gevent-mem-`)}/memory.mjs`;
  execFileSync(`${root}node_modules/.bin/esbuild`, [
    self,
    "--bundle",
    "--format=esm",
    "--platform=node",
    "--target=node20",
    `--outfile=${bundle}`,
    "--log-level=warning",
  ]);
  console.log(`${N.toLocaleString("en")} greenlets, bytes per greenlet:\n`);
  console.log("| scenario | runtime | heap | RSS |");
  console.log("|---|---|---|---|");
  for (const name of Object.keys(SCENARIOS)) {
    const rows = [run("node", ["--expose-gc", bundle, "child", name])];
    if (deno) {
      rows.unshift(run(deno.execPath(), [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        self,
        "child",
        name,
      ]));
    }
    for (const r of rows) {
      console.log(
        `| \`${name}\` | ${r.runtime} | ${r.heap.toFixed(0)} B | ${
          r.rss.toFixed(0)
        } B |`,
      );
    }
  }
}
