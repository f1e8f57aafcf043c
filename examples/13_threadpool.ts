/**
 * CPU-bound work off the hub: a greenlet ticks every 10 ms while 4 × 25 MiB
 * are hashed (one thread) — first in a `ThreadPool` (the ticks stay on time), then on the
 * hub itself (the ticks stall until the work ends). It prints each run's
 * ticks and the worst lag of a tick behind its schedule (ms).
 *
 * Run: `deno run --allow-read examples/13_threadpool.ts`
 *
 * @module
 */
import { sleep, spawn } from "../mod.ts";
import { ThreadPool } from "../threadpool.ts";
import { fnv } from "./13_threadpool_tasks.ts";

const CHUNKS = [1, 2, 3, 4];

/** Runs `work` while a greenlet ticks every 10 ms; returns the worst lag. */
async function ticking(work: () => Promise<number[]>) {
  let ticks = 0;
  let worst = 0;
  const ticker = spawn(async () => {
    let due = performance.now() + 10;
    for (;;) {
      await sleep(10);
      worst = Math.max(worst, performance.now() - due);
      ticks++;
      due = performance.now() + 10;
    }
  });
  await sleep(0);
  const hashes = await work();
  await sleep(20); // a tick overdue during the work is taken now
  ticker.kill();
  return { hashes, ticks, worst };
}

await using pool = new ThreadPool({
  size: 1, // the machine's other core stays with the hub
  module: new URL("./13_threadpool_tasks.ts", import.meta.url),
});
await pool.apply("fnv", 0); // the thread started and the module loaded
const inPool = await ticking(() => pool.map<number>("fnv", CHUNKS));
const onHub = await ticking(() =>
  Promise.resolve(CHUNKS.map((seed) => fnv(seed)))
);
console.log(
  `in the pool: ${inPool.ticks} ticks, worst lag ${inPool.worst.toFixed(0)} ms`,
);
console.log(
  `on the hub:  ${onHub.ticks} ticks, worst lag ${onHub.worst.toFixed(0)} ms`,
);
console.log(`same hashes: ${String(inPool.hashes) === String(onHub.hashes)}`);
