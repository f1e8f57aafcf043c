/**
 * What checking option keys costs on hot paths: Semaphore acquire/release,
 * Queue put/get and Event wait given an options object (and the first two
 * without), measured for this tree and for an earlier commit side by side
 * in one process. Rounds alternate which version goes first; each figure is
 * the best round (the least disturbed by other processes) and, in
 * brackets, the median.
 *
 *     deno run --allow-run=git,tar --allow-read --allow-write bench/options_overhead.ts [rev]
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

/** ns per acquire + release, options given. */
async function semaphore(lib: Lib): Promise<number> {
  const sem = new lib.Semaphore(1);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    await sem.acquire({ timeout: 1_000 });
    sem.release();
  }
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per put + get, options given. */
async function queue(lib: Lib): Promise<number> {
  const q = new lib.Queue<number>();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    await q.put(i, { timeout: 1_000 });
    await q.get({ timeout: 1_000 });
  }
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per wait on a set Event, options given. */
async function event(lib: Lib): Promise<number> {
  const e = new lib.Event();
  e.set();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await e.wait({ timeout: 1_000 });
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per acquire + release, no options. */
function semaphoreBare(lib: Lib): Promise<number> {
  return uncontendedAcquire(lib, N);
}

/** ns per put + get, no options. */
async function queueBare(lib: Lib): Promise<number> {
  const q = new lib.Queue<number>();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    await q.put(i);
    await q.get();
  }
  return ((performance.now() - t0) * 1e6) / N;
}

const BENCHES = [
  ["Semaphore acquire/release, options", semaphore],
  ["Queue put/get, options", queue],
  ["Event wait, options", event],
  ["Semaphore acquire/release", semaphoreBare],
  ["Queue put/get", queueBare],
] as const;

const dir = await extract(rev);
try {
  const before = await import(`file://${dir}/mod.ts`) as Lib;
  const libs: [string, Lib][] = [["before", before], ["after", after]];
  console.log(`before: ${rev}; after: this tree; ns per operation`);
  for (const [name, bench] of BENCHES) {
    const times = await alternate(libs, bench, ROUNDS);
    console.log(row(name, times.before, times.after));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
