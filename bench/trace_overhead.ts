/**
 * What tracing costs when it is off: switches, Semaphore acquire/release
 * (contended and not) and spawn + join, measured for this tree and for an
 * earlier commit side by side in one process, neither tracing. Rounds
 * alternate which version goes first; each figure is the best round (the
 * least disturbed by other processes) and, in brackets, the median. A last
 * column measures this tree with a trace running, for scale.
 *
 *     deno run --allow-run=git,tar --allow-read --allow-write bench/trace_overhead.ts [rev]
 *
 * `rev` (default `HEAD~1`) is extracted with `git archive` into a temporary
 * directory and imported from there.
 *
 * @module
 */
import * as after from "../mod.ts";

type Lib = typeof after;

const rev = Deno.args[0] ?? "HEAD~1";
const ROUNDS = 15;
const N = 200_000;

async function extract(rev: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gevent-ts-before-" });
  const root = new URL("..", import.meta.url).pathname;
  const archive = new Deno.Command("git", {
    args: ["-C", root, "archive", "--format=tar", rev],
    stdout: "piped",
  }).spawn();
  const tar = new Deno.Command("tar", {
    args: ["-x", "-C", dir],
    stdin: "piped",
  }).spawn();
  await archive.stdout.pipeTo(tar.stdin);
  if (!(await archive.status).success || !(await tar.status).success) {
    throw new Error(`cannot extract ${rev}`);
  }
  return dir;
}

/** ns per switch: 2 greenlets taking turns with sleep(0). */
async function switches(lib: Lib): Promise<number> {
  const body = async () => {
    for (let i = 0; i < N / 2; i++) await lib.sleep(0);
  };
  const t0 = performance.now();
  await lib.joinAll([lib.spawn(body), lib.spawn(body)]);
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per acquire + sleep(0) + release, 100 greenlets on a Semaphore(1). */
async function contended(lib: Lib): Promise<number> {
  const sem = new lib.Semaphore(1);
  const rounds = N / 100;
  const body = async () => {
    for (let i = 0; i < rounds; i++) {
      await sem.acquire();
      await lib.sleep(0);
      sem.release();
    }
  };
  const gs = [];
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) gs.push(lib.spawn(body));
  await lib.joinAll(gs);
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per acquire + release of a free Semaphore (no switch). */
async function uncontended(lib: Lib): Promise<number> {
  const sem = new lib.Semaphore(1);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    await sem.acquire();
    sem.release();
  }
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per spawn + join (a notification per greenlet's end). */
async function spawnJoin(lib: Lib): Promise<number> {
  const n = N / 4;
  const body = () => 1;
  const gs = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) gs[i] = lib.spawn(body);
  await lib.joinAll(gs);
  return ((performance.now() - t0) * 1e6) / n;
}

const BENCHES = [
  ["switch (2 greenlets, sleep(0))", switches],
  ["Semaphore(1), 100 greenlets: acq+sleep(0)+rel", contended],
  ["Semaphore acquire/release, uncontended", uncontended],
  ["spawn + join", spawnJoin],
] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const dir = await extract(rev);
try {
  const before = await import(`file://${dir}/mod.ts`) as Lib;
  const libs: [string, Lib][] = [["before", before], ["after", after]];
  console.log(
    `before: ${rev}; after: this tree; both with tracing off; ns per operation`,
  );
  for (const [name, bench] of BENCHES) {
    const times: Record<string, number[]> = { before: [], after: [] };
    for (const [, lib] of libs) await bench(lib); // warm up
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? libs : [...libs].reverse();
      for (const [label, lib] of order) times[label].push(await bench(lib));
    }
    const traced: number[] = [];
    for (let r = 0; r < 3; r++) {
      after.startTrace();
      traced.push(await bench(after));
      after.stopTrace();
    }
    const b = Math.min(...times.before), a = Math.min(...times.after);
    const bm = median(times.before), am = median(times.after);
    console.log(
      `${name.padEnd(46)} before ${b.toFixed(1)} (${bm.toFixed(1)})  ` +
        `after ${a.toFixed(1)} (${am.toFixed(1)})  ` +
        `after/before ${(a / b).toFixed(3)} (${(am / bm).toFixed(3)})  ` +
        `tracing on ${Math.min(...traced).toFixed(1)}`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
