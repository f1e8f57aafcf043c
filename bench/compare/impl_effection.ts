/**
 * Effection v4 in `bench:compare`, on Deno and on Node (esbuild bundle):
 * its own `run`, `spawn`, `sleep`, `withResolvers` and `createQueue`.
 *
 * A switch (W1, W2): Effection's `sleep(0)` is a `setTimeout(0)` (at least
 * 1 ms on Node, 4 ms after nesting on Deno), which would make W1 a timer
 * benchmark, so the yield is `yield* until(Promise.resolve())`: the task
 * suspends on a settled promise and Effection's reducer runs the other
 * ready tasks before resuming it — the analogue of `await null`.
 * Effection has no semaphore or bounded queue: W5 and W6a are n/a, and so is
 * W8 (no pool or concurrency limiter).
 *
 * @module
 */
import {
  createQueue,
  type Operation,
  run,
  sleep,
  spawn,
  type Task,
  until,
  withResolvers,
} from "effection";
import {
  check,
  fullGc,
  main,
  memory,
  type Params,
  peakRssMiB,
  secondsSince,
} from "./harness.ts";

/** Yields to the other ready tasks (see the module comment). */
function yieldNow(): Operation<void> {
  return until(Promise.resolve());
}

function yields({ greenlets, rounds }: Params) {
  return run(function* () {
    let count = 0;
    const t0 = performance.now();
    const tasks: Task<void>[] = [];
    for (let i = 0; i < greenlets; i++) {
      tasks.push(
        yield* spawn(function* () {
          for (let r = 0; r < rounds; r++) {
            yield* yieldNow();
            count++;
          }
        }),
      );
    }
    for (const t of tasks) yield* t;
    const s = secondsSince(t0);
    check(count === greenlets * rounds, `${count} yields`);
    return {
      how: "spawn; yield* until(Promise.resolve())",
      metrics: { rate: count / s },
    };
  });
}

const runtime = "Deno" in globalThis ? "deno" : "node";

await main(`effection-${runtime}`, {
  W1: yields,
  W2: yields,
  W3: ({ n }) =>
    run(function* () {
      const t0 = performance.now();
      const tasks: Task<number>[] = new Array(n);
      for (let i = 0; i < n; i++) {
        tasks[i] = yield* spawn(function* () {
          return i;
        });
      }
      let sum = 0;
      for (const t of tasks) sum += yield* t;
      const s = secondsSince(t0);
      check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
      return {
        how: "spawn + yield* task",
        metrics: { rate: n / s, peakRssMiB: peakRssMiB() },
      };
    }),
  W4: ({ n }) =>
    run(function* () {
      const event = withResolvers<void>();
      let waiting = 0;
      let woken = 0;
      yield* yieldNow();
      fullGc();
      const before = memory();
      const tasks: Task<void>[] = new Array(n);
      for (let i = 0; i < n; i++) {
        tasks[i] = yield* spawn(function* () {
          waiting++;
          yield* event.operation;
          woken++;
        });
      }
      yield* yieldNow();
      fullGc();
      const during = memory();
      check(waiting === n && woken === 0, `${waiting} waiting`);
      event.resolve();
      for (const t of tasks) yield* t;
      check(woken === n, `${woken} woken`);
      return {
        how: "spawn; yield* withResolvers().operation",
        metrics: {
          rssBytes: (during.rss - before.rss) / n,
          heapBytes: (during.heap - before.heap) / n,
        },
      };
    }),
  W5: "Effection has no semaphore or lock",
  W6a: "Effection has no bounded queue",
  W6b: ({ n }) =>
    run(function* () {
      const q = createQueue<number, void>();
      let sum = 0;
      const t0 = performance.now();
      const consumer = yield* spawn(function* () {
        for (let i = 0; i < n; i++) {
          const next = yield* q.next();
          if (next.done) throw new Error("closed early");
          sum += next.value;
        }
      });
      const producer = yield* spawn(function* () {
        for (let i = 0; i < n; i++) q.add(i);
      });
      yield* producer;
      yield* consumer;
      const s = secondsSince(t0);
      check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
      return { how: "createQueue() add/next", metrics: { rate: n / s } };
    }),
  W7: ({ greenlets, sleeps, ms }) =>
    run(function* () {
      let done = 0;
      const t0 = performance.now();
      const tasks: Task<void>[] = [];
      for (let i = 0; i < greenlets; i++) {
        tasks.push(
          yield* spawn(function* () {
            for (let k = 0; k < sleeps; k++) yield* sleep(ms);
            done++;
          }),
        );
      }
      for (const t of tasks) yield* t;
      const wallMs = performance.now() - t0;
      check(done === greenlets, `${done} done`);
      return {
        how: `spawn; yield* sleep(${ms})`,
        metrics: { wallMs, overheadMs: wallMs - sleeps * ms },
      };
    }),
  W8: "Effection has no pool or concurrency limiter",
});
