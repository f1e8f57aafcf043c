/**
 * What `deno task bench:compare` measures: the workloads (issue 14's W1–W8,
 * with their sizes for a full and a `--quick` run and the figures each
 * reports) and the implementations it runs them on. Pure data, shared by the
 * driver (`compare.ts`) and the report (`report.ts`).
 *
 * @module
 */

/** Sizes handed to an implementation's process as JSON. */
export type Params = Record<string, number>;

/** One figure a workload reports. */
export interface MetricSpec {
  /** Key in the implementation's JSON line. */
  key: string;
  /** Column heading. */
  label: string;
  /** How the number is printed: a rate, bytes, MiB or milliseconds. */
  unit: "rate" | "bytes" | "MiB" | "ms";
  /** Whether a bigger number is better (rates) or worse (bytes, time). */
  better: "higher" | "lower";
}

/** One workload: its sizes and figures (the first figure is the main one). */
export interface WorkloadSpec {
  id: string;
  title: string;
  /** What the workload does, in one sentence (printed above its table). */
  what: string;
  full: Params;
  quick: Params;
  metrics: readonly MetricSpec[];
}

/** One implementation: a runtime and a library (or none: the raw floor). */
export interface ImplSpec {
  id: string;
  /** Row label in the tables. */
  label: string;
  runtime: "deno" | "node" | "python";
  family: "gevent-ts" | "gevent" | "effection" | "peers" | "raw";
}

const rate = (label: string): MetricSpec => ({
  key: "rate",
  label,
  unit: "rate",
  better: "higher",
});

/** The workloads, in report order. */
export const WORKLOADS: readonly WorkloadSpec[] = [
  {
    id: "W1",
    title: "W1: 2 greenlets × 1,000,000 sleep(0)",
    what:
      "two greenlets take turns with `sleep(0)` (raw floor: two async functions awaiting `null`); switches per second",
    full: { greenlets: 2, rounds: 1_000_000 },
    quick: { greenlets: 2, rounds: 100_000 },
    metrics: [rate("switches/s")],
  },
  {
    id: "W2",
    title: "W2: 1,000 greenlets × 1,000 sleep(0)",
    what:
      "1,000 greenlets each yield 1,000 times (raw floor: `await null`); switches per second",
    full: { greenlets: 1_000, rounds: 1_000 },
    quick: { greenlets: 200, rounds: 200 },
    metrics: [rate("switches/s")],
  },
  {
    id: "W3",
    title: "W3: spawn + join of 100,000 trivial greenlets",
    what:
      "spawn 100,000 greenlets returning their index, join them all, check the sum of the results; greenlets per second, and the peak RSS (VmHWM) of the whole cold process",
    full: { n: 100_000 },
    quick: { n: 20_000 },
    metrics: [
      rate("greenlets/s"),
      { key: "peakRssMiB", label: "peak RSS", unit: "MiB", better: "lower" },
    ],
  },
  {
    id: "W4",
    title: "W4: bytes per idle greenlet (100,000 blocked on an Event)",
    what:
      "RSS growth per greenlet while 100,000 wait on one Event, measured after a full GC (JS: `--expose-gc`, two `gc()`; CPython: `gc.collect()`); second figure: JS heapUsed growth / CPython tracemalloc growth (a second batch, traced)",
    full: { n: 100_000 },
    quick: { n: 20_000 },
    metrics: [
      {
        key: "rssBytes",
        label: "RSS/greenlet",
        unit: "bytes",
        better: "lower",
      },
      {
        key: "heapBytes",
        label: "heap/greenlet",
        unit: "bytes",
        better: "lower",
      },
    ],
  },
  {
    id: "W5",
    title: "W5: Semaphore(1), 100 greenlets, 200,000 acquisitions",
    what:
      "100 greenlets each acquire a Semaphore(1) 2,000 times and `sleep(0)` while holding it; acquisitions per second",
    full: { greenlets: 100, total: 200_000 },
    quick: { greenlets: 100, total: 20_000 },
    metrics: [rate("acquisitions/s")],
  },
  {
    id: "W6a",
    title: "W6a: Queue(1) ping-pong, 500,000 items",
    what:
      "one producer puts 500,000 items into a Queue(1), one consumer gets them (every put waits for a get); items per second",
    full: { n: 500_000 },
    quick: { n: 50_000 },
    metrics: [rate("items/s")],
  },
  {
    id: "W6b",
    title: "W6b: unbounded Queue put/get, 500,000 items",
    what:
      "one producer puts 500,000 items into an unbounded Queue, one consumer started with it gets them; items per second",
    full: { n: 500_000 },
    quick: { n: 50_000 },
    metrics: [rate("items/s")],
  },
  {
    id: "W7",
    title: "W7: 10,000 greenlets × ten 10 ms sleeps",
    what:
      "10,000 greenlets each sleep 10 ms ten times (raw floor: `await new Promise(r => setTimeout(r, 10))`); wall time against the ideal 100 ms, and the overhead above it",
    full: { greenlets: 10_000, sleeps: 10, ms: 10 },
    quick: { greenlets: 2_000, sleeps: 10, ms: 10 },
    metrics: [
      { key: "wallMs", label: "wall", unit: "ms", better: "lower" },
      { key: "overheadMs", label: "over ideal", unit: "ms", better: "lower" },
    ],
  },
  {
    id: "W8",
    title: "W8: HTTP fan-out, 10,000 GETs, concurrency 100",
    what:
      "10,000 GETs to a loopback node:http server (its own process, keep-alive, 3-byte body) with at most 100 in flight; JS clients all use the runtime's global `fetch`, CPython uses monkey-patched `http.client` with a pool of keep-alive connections; requests per second",
    full: { n: 10_000, concurrency: 100 },
    quick: { n: 1_000, concurrency: 100 },
    metrics: [rate("requests/s")],
  },
];

/** The implementations, in row order. */
export const IMPLS: readonly ImplSpec[] = [
  {
    id: "gevent-ts-deno",
    label: "gevent-ts (Deno, sources)",
    runtime: "deno",
    family: "gevent-ts",
  },
  {
    id: "gevent-ts-node",
    label: "gevent-ts (Node, npm bundle)",
    runtime: "node",
    family: "gevent-ts",
  },
  {
    id: "gevent",
    label: "gevent (CPython)",
    runtime: "python",
    family: "gevent",
  },
  {
    id: "effection-deno",
    label: "Effection (Deno)",
    runtime: "deno",
    family: "effection",
  },
  {
    id: "effection-node",
    label: "Effection (Node)",
    runtime: "node",
    family: "effection",
  },
  {
    id: "peers-deno",
    label: "npm peers (Deno)",
    runtime: "deno",
    family: "peers",
  },
  {
    id: "peers-node",
    label: "npm peers (Node)",
    runtime: "node",
    family: "peers",
  },
  {
    id: "raw-deno",
    label: "raw promises (Deno)",
    runtime: "deno",
    family: "raw",
  },
  {
    id: "raw-node",
    label: "raw promises (Node)",
    runtime: "node",
    family: "raw",
  },
];

/** The raw-promise floor of the same runtime, if `impl` runs on one. */
export function floorOf(impl: ImplSpec): string | undefined {
  if (impl.runtime === "python") return undefined;
  return `raw-${impl.runtime}`;
}
