/**
 * CPU-bound work off the hub: 200 MiB hashed (SHA-256, 25 chunks of 8 MiB)
 * while a greenlet ticks every 10 ms — first in a `ThreadPool` (one
 * thread: the hub keeps the other core), then on the hub itself. It prints
 * each run's time, ticks and worst lag of a tick behind its schedule (ms).
 * The monitor watches both runs: it stays silent while the pool works, and
 * names the greenlet that hashed on the hub (its reports are printed last).
 *
 * Run: `deno run --allow-read examples/13_threadpool.ts` (the pool's
 * thread reads the task module, examples/13_threadpool_tasks.ts).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  type BlockingReport,
  sleep,
  spawn,
  startMonitor,
  stopMonitor,
} from "../mod.ts";
import { ThreadPool } from "../threadpool.ts";
import { sha256Chunk } from "./13_threadpool_tasks.ts";

const CHUNKS = 25; // × 8 MiB = 200 MiB

/** The chunks' digests, hashed together. */
function combine(digests: string[]): string {
  return createHash("sha256").update(digests.join("")).digest("hex");
}

/** Runs `work` while a greenlet ticks every 10 ms. */
async function ticking(work: () => Promise<string>) {
  const lags: number[] = [];
  const ticker = spawn(async function ticker() {
    for (;;) {
      const due = performance.now() + 10;
      await sleep(10);
      lags.push(performance.now() - due);
    }
  });
  await sleep(0);
  const start = performance.now();
  const digest = await work();
  const ms = performance.now() - start;
  await sleep(20); // a tick overdue during the work is taken now
  ticker.kill();
  const worst = Math.max(...lags);
  return { digest, ms, ticks: lags.length, worst };
}

function line(label: string, r: Awaited<ReturnType<typeof ticking>>) {
  return `${label} ${r.ms.toFixed(0).padStart(4)} ms, ${
    String(r.ticks).padStart(3)
  } tick${r.ticks === 1 ? "" : "s"}, worst lag ${r.worst.toFixed(0)} ms`;
}

await using pool = new ThreadPool({
  size: 1,
  module: new URL("./13_threadpool_tasks.ts", import.meta.url),
});
await pool.apply("sha256Chunk", 0); // the thread started, the module loaded
const reports: BlockingReport[] = [];
startMonitor({ maxBlockingTime: 50, report: (r) => void reports.push(r) });
const inPool = await ticking(async () => {
  const digests: string[] = [];
  for await (const d of pool.imap<string>("sha256Chunk", chunks())) {
    digests.push(d);
  }
  return combine(digests);
});
const onHub = await ticking(async () => {
  const g = spawn(function hashOnHub() {
    return combine([...chunks()].map(sha256Chunk)); // never yields
  });
  return await g.get() as string;
});
stopMonitor();
console.log(
  `200 MiB hashed (SHA-256, ${CHUNKS} chunks) while a greenlet ticks every 10 ms:`,
);
console.log(line("in a ThreadPool:", inPool));
console.log(line("on the hub:     ", onHub));
console.log(
  `same digest: ${inPool.digest === onHub.digest} (${
    inPool.digest.slice(0, 16)
  }…)`,
);
for (const r of reports) {
  const site = r.spawnSite?.replace(/^.*\//, "");
  console.log(
    `monitor: ${r.greenlet ?? "the hub's thread"} blocked the hub for ${
      r.duration.toFixed(0)
    } ms${site === undefined ? "" : ` (spawned at ${site})`}`,
  );
}

function* chunks() {
  for (let k = 0; k < CHUNKS; k++) yield k;
}
