/**
 * The hub's tick lag under CPU load (issue 25): a greenlet ticks every
 * 5 ms while 20 CPU-bound tasks of 50 ms each (a busy loop) run in a
 * `ThreadPool` of one thread (the hub keeps the other core), then while
 * the same tasks run on the hub, yielding between them. It reports the
 * lag of a tick behind its schedule: worst and 99th percentile (ms).
 * Part of `deno task bench`; alone: `deno run bench/threadpool_lag.ts`.
 *
 * @module
 */
import { sleep, spawn } from "../mod.ts";
import { ThreadPool } from "../threadpool.ts";

/** A task module in a data: URL (no file to read: no permission needed). */
const MODULE = "data:text/javascript,export function spin(ms) {" +
  " const end = performance.now() + ms; while (performance.now() < end); return ms; }";

const TASKS = 20;
const TASK_MS = 50;
const TICK_MS = 5;

/** Worst and 99th percentile of the ticks' lag (ms) while `work` runs. */
export interface Lag {
  worst: number;
  p99: number;
  ticks: number;
}

function spin(ms: number): number {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return ms;
}

async function ticking(work: () => Promise<unknown>): Promise<Lag> {
  const lags: number[] = [];
  const ticker = spawn(async function ticker() {
    for (;;) {
      const due = performance.now() + TICK_MS;
      await sleep(TICK_MS);
      lags.push(performance.now() - due);
    }
  });
  await sleep(0);
  await work();
  await sleep(2 * TICK_MS); // a tick overdue during the work is taken now
  ticker.kill();
  lags.sort((a, b) => a - b);
  return {
    worst: lags[lags.length - 1],
    p99: lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))],
    ticks: lags.length,
  };
}

/**
 * Runs the load in the pool, then on the hub.
 *
 * @returns The lags: `[inPool, onHub]`.
 */
export async function threadpoolLag(): Promise<[Lag, Lag]> {
  await using pool = new ThreadPool({ size: 1, module: MODULE });
  await pool.apply("spin", 0); // the thread started, the module loaded
  const items = new Array<number>(TASKS).fill(TASK_MS);
  const inPool = await ticking(() => pool.map("spin", items));
  const onHub = await ticking(() =>
    spawn(async function spinOnHub() {
      for (const ms of items) {
        spin(ms);
        await sleep(0);
      }
    }).join()
  );
  return [inPool, onHub];
}

if (import.meta.main) {
  const [inPool, onHub] = await threadpoolLag();
  const f = (l: Lag) =>
    `worst ${l.worst.toFixed(1)} ms, p99 ${
      l.p99.toFixed(1)
    } ms (${l.ticks} ticks)`;
  console.log(`${TASKS} × ${TASK_MS} ms of CPU, ticks every ${TICK_MS} ms`);
  console.log(`in a ThreadPool(1): ${f(inPool)}`);
  console.log(`on the hub:         ${f(onHub)}`);
}
