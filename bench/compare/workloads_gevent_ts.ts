/**
 * gevent-ts's workloads for `bench:compare`, written once against the
 * library passed in: `impl_gevent_ts.ts` hands it the sources (Deno),
 * `impl_gevent_ts_node.ts` the built npm bundle (Node).
 *
 * @module
 */
import {
  check,
  fullGc,
  get,
  memory,
  type Params,
  peakRssMiB,
  secondsSince,
  urlOf,
  type Workload,
} from "./harness.ts";

/** The library's surface the workloads use (the type of `mod.ts`). */
export type Lib = typeof import("../../mod.ts");

/** Switches per second of `greenlets` greenlets each doing `rounds` sleep(0). */
async function yields(lib: Lib, p: Params) {
  const { greenlets, rounds } = p;
  let count = 0;
  const body = async () => {
    for (let i = 0; i < rounds; i++) {
      await lib.sleep(0);
      count++;
    }
  };
  const t0 = performance.now();
  const gs = [];
  for (let i = 0; i < greenlets; i++) gs.push(lib.spawn(body));
  await lib.joinAll(gs);
  const s = secondsSince(t0);
  check(count === greenlets * rounds, `${count} sleeps`);
  return { how: "sleep(0)", metrics: { rate: count / s } };
}

/** The workloads, by id. */
export function workloads(lib: Lib): Record<string, Workload> {
  return {
    W1: (p) => yields(lib, p),
    W2: (p) => yields(lib, p),
    W3: async ({ n }) => {
      const body = (i: number) => i;
      const t0 = performance.now();
      const gs = new Array(n);
      for (let i = 0; i < n; i++) gs[i] = lib.spawn(body, i);
      await lib.joinAll(gs);
      const s = secondsSince(t0);
      let sum = 0;
      for (const g of gs) sum += g.value;
      check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
      return {
        how: "spawn + joinAll",
        metrics: { rate: n / s, peakRssMiB: peakRssMiB() },
      };
    },
    W4: async ({ n }) => {
      const ev = new lib.Event();
      let waiting = 0;
      const body = () => {
        waiting++;
        return ev.wait();
      };
      await lib.sleep(0);
      fullGc();
      const before = memory();
      const gs = new Array(n);
      for (let i = 0; i < n; i++) gs[i] = lib.spawn(body);
      await lib.sleep(0);
      fullGc();
      const during = memory();
      check(waiting === n && gs.every((g) => !g.dead), `${waiting} waiting`);
      ev.set();
      await lib.joinAll(gs);
      check(gs.every((g) => g.value === true), "every wait returned true");
      return {
        how: "Event.wait()",
        metrics: {
          rssBytes: (during.rss - before.rss) / n,
          heapBytes: (during.heap - before.heap) / n,
        },
      };
    },
    W5: async ({ greenlets, total }) => {
      const sem = new lib.Semaphore(1);
      const each = total / greenlets;
      let held = 0;
      let count = 0;
      const body = async () => {
        for (let i = 0; i < each; i++) {
          await sem.acquire();
          try {
            check(held === 0, "one holder");
            held++;
            await lib.sleep(0);
            held--;
            count++;
          } finally {
            sem.release();
          }
        }
      };
      const t0 = performance.now();
      const gs = [];
      for (let i = 0; i < greenlets; i++) gs.push(lib.spawn(body));
      await lib.joinAll(gs, { raiseError: true });
      const s = secondsSince(t0);
      check(count === total, `${count} acquisitions`);
      return {
        how: "Semaphore(1) acquire/release",
        metrics: { rate: total / s },
      };
    },
    W6a: ({ n }) => queue(lib, n, 1),
    W6b: ({ n }) => queue(lib, n, undefined),
    W7: async ({ greenlets, sleeps, ms }) => {
      let done = 0;
      const body = async () => {
        for (let i = 0; i < sleeps; i++) await lib.sleep(ms);
        done++;
      };
      const t0 = performance.now();
      const gs = [];
      for (let i = 0; i < greenlets; i++) gs.push(lib.spawn(body));
      await lib.joinAll(gs);
      const wallMs = performance.now() - t0;
      check(done === greenlets, `${done} done`);
      return {
        how: `sleep(${ms})`,
        metrics: { wallMs, overheadMs: wallMs - sleeps * ms },
      };
    },
    W8: async (p) => {
      const url = urlOf(p);
      const pool = new lib.Pool(p.concurrency);
      let ok = 0;
      const body = async () => {
        // not `ok += await get(url)`: that reads `ok` before the switch and
        // loses the other greenlets' counts
        const answered = await get(url);
        ok += answered;
      };
      const t0 = performance.now();
      for (let i = 0; i < p.n; i++) await pool.spawn(body);
      await pool.join({ raiseError: true });
      const s = secondsSince(t0);
      check(ok === p.n, `${ok} responses`);
      return {
        how: `Pool(${p.concurrency}).spawn + fetch`,
        metrics: { rate: p.n / s },
      };
    },
  };
}

/** Items per second through a Queue(maxsize): one producer, one consumer. */
async function queue(lib: Lib, n: number, maxsize: number | undefined) {
  const q = new lib.Queue<number>(maxsize);
  let sum = 0;
  const producer = async () => {
    for (let i = 0; i < n; i++) await q.put(i);
  };
  const consumer = async () => {
    for (let i = 0; i < n; i++) {
      const item = await q.get(); // read before adding: `sum += await` reads sum first
      sum += item;
    }
  };
  const t0 = performance.now();
  await lib.joinAll([lib.spawn(producer), lib.spawn(consumer)], {
    raiseError: true,
  });
  const s = secondsSince(t0);
  check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
  return {
    how: maxsize === undefined
      ? "Queue() put/get"
      : `Queue(${maxsize}) put/get`,
    metrics: { rate: n / s },
  };
}
