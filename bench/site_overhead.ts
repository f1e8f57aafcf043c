/**
 * What recording call sites costs (issue 22): spawn + join of trivial
 * greenlets and the construction of primitives, for this tree and for an
 * earlier commit side by side in one process (rounds alternate which goes
 * first; each figure is the best round and, in brackets, the median), in
 * the default site mode (`"bounded"`) and, for this tree, with
 * `setSiteMode("all")` against the same earlier commit.
 *
 *     deno run --allow-run=git,tar --allow-read --allow-write bench/site_overhead.ts [rev]
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
const ROUNDS = 11;
const N = 100_000;

/** ns per spawn + join of a trivial greenlet, `N` spawned in one loop. */
async function spawnJoin(lib: Lib): Promise<number> {
  const body = () => 1;
  const gs = new Array(N);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) gs[i] = lib.spawn(body);
  await lib.joinAll(gs);
  return ((performance.now() - t0) * 1e6) / N;
}

/** ns per spawn + join when each greenlet is spawned after a yield. */
async function spawnYield(lib: Lib): Promise<number> {
  const body = () => 1;
  const n = N / 4;
  const gs = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    gs[i] = lib.spawn(body);
    await lib.sleep(0);
  }
  await lib.joinAll(gs);
  return ((performance.now() - t0) * 1e6) / n;
}

/** ns per `new Semaphore()` + `new Event()` + `new Queue()`. */
function construct(lib: Lib): Promise<number> {
  const keep = new Array(N);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    keep[i] = [new lib.Semaphore(1), new lib.Event(), new lib.Queue()];
  }
  return Promise.resolve(((performance.now() - t0) * 1e6) / N);
}

function acquire(lib: Lib): Promise<number> {
  return uncontendedAcquire(lib, 4 * N);
}

/** ns per acquire/release of a Semaphore(1) that 100 greenlets share. */
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
  const t0 = performance.now();
  await lib.joinAll(Array.from({ length: 100 }, () => lib.spawn(body)));
  return ((performance.now() - t0) * 1e6) / N;
}

const BENCHES = [
  ["spawn+join, 100,000 in one loop", spawnJoin],
  ["spawn+join, one per sleep(0)", spawnYield],
  ["new Semaphore+Event+Queue", construct],
  ["Semaphore acquire/release (free)", acquire],
  ["Semaphore(1), 100 greenlets", contended],
] as const;

const dir = await extract(rev);
try {
  const before = await import(`file://${dir}/mod.ts`) as Lib;
  const libs: [string, Lib][] = [["before", before], ["after", after]];
  console.log(`before: ${rev}; after: this tree; ns per operation`);
  for (const mode of ["bounded", "all"] as const) {
    after.setSiteMode(mode);
    console.log(`-- after: setSiteMode("${mode}")`);
    for (const [name, bench] of BENCHES) {
      const times = await alternate(libs, bench, ROUNDS);
      console.log(row(name, times.before, times.after));
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
