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
import { alternate, extract, row, uncontendedAcquire } from "./_ab.ts";

type Lib = typeof after;

const rev = Deno.args[0] ?? "HEAD~1";
const ROUNDS = 15;
const N = 200_000;

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
function uncontended(lib: Lib): Promise<number> {
  return uncontendedAcquire(lib, N);
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
  ["Semaphore(1) ×100: acq+sleep(0)+rel", contended],
  ["Semaphore acq/rel, uncontended", uncontended],
  ["spawn + join", spawnJoin],
] as const;

const dir = await extract(rev);
try {
  const before = await import(`file://${dir}/mod.ts`) as Lib;
  const libs: [string, Lib][] = [["before", before], ["after", after]];
  console.log(
    `before: ${rev}; after: this tree; both with tracing off; ns per operation`,
  );
  for (const [name, bench] of BENCHES) {
    const times = await alternate(libs, bench, ROUNDS);
    const traced: number[] = [];
    for (let r = 0; r < 3; r++) {
      after.startTrace();
      traced.push(await bench(after));
      after.stopTrace();
    }
    console.log(
      `${row(name, times.before, times.after)}  tracing on ${
        Math.min(...traced).toFixed(1)
      }`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
