/**
 * The npm concurrency helpers in `bench:compare`, where one fits a
 * workload, on Deno and on Node (esbuild bundle): p-queue for the spawn rate
 * (W3: a task per `add`, concurrency unlimited), async-mutex's
 * `Semaphore(1)` (W5) and p-limit(100) for the HTTP fan-out (W8). The other
 * workloads are n/a: these libraries add nothing over raw promises there.
 *
 * @module
 */
import PQueue from "p-queue";
import pLimit from "p-limit";
import { Semaphore } from "async-mutex";
import {
  check,
  get,
  main,
  peakRssMiB,
  secondsSince,
  urlOf,
} from "./harness.ts";

const runtime = "Deno" in globalThis ? "deno" : "node";
const NONE = "no primitive of p-limit / p-queue / async-mutex for it";

await main(`peers-${runtime}`, {
  W1: NONE,
  W2: NONE,
  W3: async ({ n }) => {
    const queue = new PQueue({ concurrency: Infinity });
    // an async task, as p-queue is used: its result is a promise
    // deno-lint-ignore require-await
    const body = (i: number) => async () => i;
    const t0 = performance.now();
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = queue.add(body(i));
    const values = await Promise.all(ps);
    await queue.onIdle();
    const s = secondsSince(t0);
    let sum = 0;
    for (const v of values) sum += v;
    check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
    return {
      how: "p-queue add (concurrency ∞)",
      metrics: { rate: n / s, peakRssMiB: peakRssMiB() },
    };
  },
  W4: NONE,
  W5: async ({ greenlets, total }) => {
    const sem = new Semaphore(1);
    const each = total / greenlets;
    let held = 0;
    let count = 0;
    const body = async () => {
      for (let i = 0; i < each; i++) {
        const [, release] = await sem.acquire();
        try {
          check(held === 0, "one holder");
          held++;
          await null;
          held--;
          count++;
        } finally {
          release();
        }
      }
    };
    const t0 = performance.now();
    const ps = [];
    for (let i = 0; i < greenlets; i++) ps.push(body());
    await Promise.all(ps);
    const s = secondsSince(t0);
    check(count === total, `${count} acquisitions`);
    return {
      how: "async-mutex Semaphore(1), await null held",
      metrics: { rate: total / s },
    };
  },
  W6a: NONE,
  W6b: NONE,
  W7: NONE,
  W8: async (p) => {
    const url = urlOf(p);
    const limit = pLimit(p.concurrency);
    const t0 = performance.now();
    const ps = new Array(p.n);
    for (let i = 0; i < p.n; i++) ps[i] = limit(() => get(url));
    let ok = 0;
    for (const r of await Promise.all(ps)) ok += r;
    const s = secondsSince(t0);
    check(ok === p.n, `${ok} responses`);
    return {
      how: `p-limit(${p.concurrency}) + fetch`,
      metrics: { rate: p.n / s },
    };
  },
});
