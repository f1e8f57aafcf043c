/**
 * gevent-ts benchmarks (`deno task bench`). Hand-rolled loops, one process,
 * figures printed side by side; run with `--v8-flags=--expose-gc` for the
 * memory figures. Each figure is the best of `REPS` runs.
 *
 * @module
 */
import process from "node:process";
import {
  Event,
  joinAll,
  Pool,
  Queue,
  Semaphore,
  sleep,
  spawn,
} from "../mod.ts";
import { echoPair } from "./socket_echo.ts";
import { threadpoolLag } from "./threadpool_lag.ts";

const REPS = 3;
const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

async function best(
  fn: () => Promise<number>,
): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPS; i++) top = Math.max(top, await fn());
  return top;
}

/** ops/s of a raw `await null` loop: the floor every switch builds on. */
async function rawAwait(): Promise<number> {
  const n = 2_000_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await null;
  return n / ((performance.now() - t0) / 1000);
}

/** yields/s: `greenlets` greenlets each doing `rounds` × sleep(0). */
async function yields(greenlets: number, rounds: number): Promise<number> {
  const body = async () => {
    for (let i = 0; i < rounds; i++) await sleep(0);
  };
  const gs = [];
  const t0 = performance.now();
  for (let i = 0; i < greenlets; i++) gs.push(spawn(body));
  await joinAll(gs);
  return (greenlets * rounds) / ((performance.now() - t0) / 1000);
}

let spawnPeak = 0;
/** spawn + join of `n` greenlets per second; records peak heap growth. */
async function spawnJoin(n: number): Promise<number> {
  const before = heap();
  const body = () => 1;
  const gs = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) gs[i] = spawn(body);
  const peak = process.memoryUsage().heapUsed;
  await joinAll(gs);
  const rate = n / ((performance.now() - t0) / 1000);
  spawnPeak = Math.max(spawnPeak, peak - before);
  return rate;
}

/**
 * Bytes of heap per greenlet blocked in `block()` (100,000 of them), until
 * `release(n)` lets them all go.
 */
async function idleBytes(
  n: number,
  block: () => Promise<unknown>,
  release: (n: number) => void,
): Promise<number> {
  const before = heap();
  const gs = new Array(n);
  for (let i = 0; i < n; i++) gs[i] = spawn(block);
  await sleep(0);
  await sleep(0);
  const during = heap();
  release(n);
  await joinAll(gs);
  return (during - before) / n;
}

function onSemaphore(n: number): Promise<number> {
  const sem = new Semaphore(0);
  return idleBytes(n, () => sem.acquire(), (k) => {
    for (let i = 0; i < k; i++) sem.release();
  });
}

function onEvent(n: number): Promise<number> {
  const ev = new Event();
  return idleBytes(n, () => ev.wait(), () => ev.set());
}

/** items/s through `Queue(1)`: one producer, one consumer (ping-pong). */
async function queuePingPong(n: number): Promise<number> {
  const q = new Queue<number>(1);
  const t0 = performance.now();
  const producer = spawn(async () => {
    for (let i = 0; i < n; i++) await q.put(i);
  });
  const consumer = spawn(async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await q.get();
    return sum;
  });
  await joinAll([producer, consumer]);
  return n / ((performance.now() - t0) / 1000);
}

/** items/s through an unbounded Queue: put all, then get all. */
async function queueUnbounded(n: number): Promise<number> {
  const q = new Queue<number>();
  const t0 = performance.now();
  await spawn(async () => {
    for (let i = 0; i < n; i++) await q.put(i);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await q.get();
    return sum;
  }).join();
  return n / ((performance.now() - t0) / 1000);
}

/** tasks/s of `Pool(100).map` over `n` trivial async tasks. */
async function poolMap(n: number): Promise<number> {
  const pool = new Pool(100);
  const items = Array.from({ length: n }, (_, i) => i);
  const double = (x: number) => Promise.resolve(x * 2); // a trivial async task
  const t0 = performance.now();
  const out = await pool.map(double, items);
  const rate = n / ((performance.now() - t0) / 1000);
  if (out[n - 1] !== 2 * (n - 1)) throw new Error("Pool.map lost a result");
  return rate;
}

/** ops/s of acquire + sleep(0) + release by 100 contending greenlets. */
async function semaphoreOps(
  greenlets: number,
  rounds: number,
): Promise<number> {
  const sem = new Semaphore(1);
  const body = async () => {
    for (let i = 0; i < rounds; i++) {
      await sem.acquire();
      await sleep(0);
      sem.release();
    }
  };
  const gs = [];
  const t0 = performance.now();
  for (let i = 0; i < greenlets; i++) gs.push(spawn(body));
  await joinAll(gs);
  return (greenlets * rounds) / ((performance.now() - t0) / 1000);
}

const M = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
const K = (x: number) => `${(x / 1e3).toFixed(0)} k/s`;

const runtime = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  ? `Deno ${
    (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno
      .version.deno
  }`
  : `Node ${process.version}`;
console.log(`gevent-ts benchmarks on ${runtime} (best of ${REPS})`);
const rows: [string, string, string][] = [];
const raw = await best(rawAwait);
rows.push(["raw `await null` (reference)", M(raw), ""]);
const y2 = await best(() => yields(2, 1_000_000));
rows.push(["yields/s, 2 greenlets × 1,000,000 sleep(0)", M(y2), "≥ 6 M/s"]);
const y1000 = await best(() => yields(1_000, 1_000));
rows.push(["yields/s, 1,000 greenlets × 1,000 sleep(0)", M(y1000), "≥ 5 M/s"]);
const sj = await best(() => spawnJoin(100_000));
rows.push(["spawn+join/s, 100,000 greenlets", K(sj), "≥ 600 k/s"]);
rows.push([
  "  peak heap growth while 100,000 are spawned",
  `${(spawnPeak / 2 ** 20).toFixed(1)} MiB`,
  "",
]);
if (gc) {
  const ib = Math.min(
    await onSemaphore(100_000),
    await onSemaphore(100_000),
    await onSemaphore(100_000),
  );
  rows.push([
    "bytes per idle greenlet (blocked on a Semaphore)",
    `${ib.toFixed(0)} B`,
    "≤ 2 KB",
  ]);
} else {
  rows.push(["bytes per idle greenlet", "(run with --expose-gc)", ""]);
}
const so = await best(() => semaphoreOps(100, 20_000));
rows.push([
  "Semaphore(1), 100 greenlets: acquire+sleep(0)+release",
  M(so),
  "≥ 2.5 M/s",
]);
const pp = await best(() => queuePingPong(1_000_000));
rows.push(["Queue(1) ping-pong, 1 producer + 1 consumer", M(pp), "≥ 2.5 M/s"]);
const qu = await best(() => queueUnbounded(1_000_000));
rows.push(["Queue() put 1,000,000 then get them", M(qu), "≥ 8 M/s"]);
const pm = await best(() => poolMap(100_000));
rows.push([
  "Pool(100).map over 100,000 trivial async tasks",
  K(pm),
  "≥ 500 k/s",
]);
if (gc) {
  const eb = Math.min(
    await onEvent(100_000),
    await onEvent(100_000),
    await onEvent(100_000),
  );
  rows.push([
    "bytes per idle greenlet (waiting on an Event)",
    `${eb.toFixed(0)} B`,
    "≤ 1 KB",
  ]);
}
const [echoSock, echoNet] = await echoPair(10_000);
rows.push([
  "loopback echo, 10,000 × 64 B: socket.ts (msg/s)",
  K(echoSock),
  `${(echoSock / echoNet).toFixed(2)} × node:net`,
]);
rows.push([
  "  plain node:net promises, same run (reference)",
  K(echoNet),
  "≥ 0.90 ×",
]);
const [lagPool, lagHub] = await threadpoolLag();
const lag = (l: { worst: number; p99: number }) =>
  `${l.worst.toFixed(1)} / ${l.p99.toFixed(1)} ms`;
rows.push([
  "hub tick lag worst / p99, 20 × 50 ms of CPU in ThreadPool(1)",
  lag(lagPool),
  "≤ 5 ms",
]);
rows.push([
  "  the same load on the hub, sleep(0) between tasks (reference)",
  lag(lagHub),
  "",
]);
const w = Math.max(...rows.map((r) => r[0].length));
for (const [name, value, target] of rows) {
  console.log(`${name.padEnd(w)}  ${value.padStart(12)}  ${target}`);
}
console.log(
  `rss at end: ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
);
