/**
 * The raw-promise floor of `bench:compare`, on Deno (sources) and on Node
 * (esbuild bundle): no library, the least a JavaScript runtime does for each
 * workload — async functions awaiting `null` for a switch, a hand-rolled
 * semaphore and queue on promise resolvers, bare `setTimeout` for a sleep,
 * `Promise.all` batches of 100 `fetch`es.
 *
 * @module
 */
import {
  check,
  fullGc,
  get,
  main,
  memory,
  type Params,
  peakRssMiB,
  secondsSince,
  urlOf,
} from "./harness.ts";

/** A FIFO of resolvers with O(1) shift (an array and a head index). */
class Waiters {
  #items: (() => void)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(resolve: () => void): void {
    this.#items.push(resolve);
  }
  /** Wakes the oldest waiter, if any. */
  wake(): boolean {
    if (this.#head === this.#items.length) return false;
    const resolve = this.#items[this.#head];
    this.#items[this.#head++] = undefined as unknown as () => void;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    resolve();
    return true;
  }
}

/** A counting semaphore on resolvers: release hands the permit over. */
class RawSemaphore {
  #value: number;
  #waiters = new Waiters();
  constructor(value: number) {
    this.#value = value;
  }
  acquire(): Promise<void> | void {
    if (this.#value > 0) {
      this.#value--;
      return;
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    if (!this.#waiters.wake()) this.#value++;
  }
}

/** A FIFO queue, bounded or not, on resolvers. */
class RawQueue<T> {
  #items: T[] = [];
  #head = 0;
  #getters = new Waiters();
  #putters = new Waiters();
  constructor(readonly maxsize: number) {}
  get size(): number {
    return this.#items.length - this.#head;
  }
  async put(item: T): Promise<void> {
    while (this.size >= this.maxsize) {
      await new Promise<void>((resolve) => this.#putters.push(resolve));
    }
    this.#items.push(item);
    this.#getters.wake();
  }
  async get(): Promise<T> {
    while (this.size === 0) {
      await new Promise<void>((resolve) => this.#getters.push(resolve));
    }
    const item = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#putters.wake();
    return item;
  }
}

async function yields({ greenlets, rounds }: Params) {
  let count = 0;
  const body = async () => {
    for (let i = 0; i < rounds; i++) {
      await null;
      count++;
    }
  };
  const t0 = performance.now();
  const ps = [];
  for (let i = 0; i < greenlets; i++) ps.push(body());
  await Promise.all(ps);
  const s = secondsSince(t0);
  check(count === greenlets * rounds, `${count} awaits`);
  return { how: "async fns, await null", metrics: { rate: count / s } };
}

async function queue(n: number, maxsize: number) {
  const q = new RawQueue<number>(maxsize);
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
  await Promise.all([producer(), consumer()]);
  const s = secondsSince(t0);
  check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
  return {
    how: `hand-rolled queue (${
      maxsize === Infinity ? "unbounded" : `max ${maxsize}`
    })`,
    metrics: { rate: n / s },
  };
}

const runtime = "Deno" in globalThis ? "deno" : "node";

await main(`raw-${runtime}`, {
  W1: yields,
  W2: yields,
  W3: async ({ n }) => {
    // the raw "greenlet": an async function call, joined by Promise.all
    // deno-lint-ignore require-await
    const body = async (i: number) => i;
    const t0 = performance.now();
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = body(i);
    const values = await Promise.all(ps);
    const s = secondsSince(t0);
    let sum = 0;
    for (const v of values) sum += v;
    check(sum === (n * (n - 1)) / 2, `sum ${sum}`);
    return {
      how: "async fns + Promise.all",
      metrics: { rate: n / s, peakRssMiB: peakRssMiB() },
    };
  },
  W4: async ({ n }) => {
    let set!: () => void;
    const event = new Promise<void>((resolve) => (set = resolve));
    let waiting = 0;
    let woken = 0;
    const body = async () => {
      waiting++;
      await event;
      woken++;
    };
    await null;
    fullGc();
    const before = memory();
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = body();
    await null;
    fullGc();
    const during = memory();
    check(waiting === n && woken === 0, `${waiting} waiting`);
    set();
    await Promise.all(ps);
    check(woken === n, `${woken} woken`);
    return {
      how: "async fns awaiting one promise",
      metrics: {
        rssBytes: (during.rss - before.rss) / n,
        heapBytes: (during.heap - before.heap) / n,
      },
    };
  },
  W5: async ({ greenlets, total }) => {
    const sem = new RawSemaphore(1);
    const each = total / greenlets;
    let held = 0;
    let count = 0;
    const body = async () => {
      for (let i = 0; i < each; i++) {
        await sem.acquire();
        try {
          check(held === 0, "one holder");
          held++;
          await null;
          held--;
          count++;
        } finally {
          sem.release();
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
      how: "hand-rolled semaphore, await null held",
      metrics: { rate: total / s },
    };
  },
  W6a: ({ n }) => queue(n, 1),
  W6b: ({ n }) => queue(n, Infinity),
  W7: async ({ greenlets, sleeps, ms }) => {
    let done = 0;
    const body = async () => {
      for (let i = 0; i < sleeps; i++) {
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
      done++;
    };
    const t0 = performance.now();
    const ps = [];
    for (let i = 0; i < greenlets; i++) ps.push(body());
    await Promise.all(ps);
    const wallMs = performance.now() - t0;
    check(done === greenlets, `${done} done`);
    return {
      how: `await new Promise(r => setTimeout(r, ${ms}))`,
      metrics: { wallMs, overheadMs: wallMs - sleeps * ms },
    };
  },
  W8: async (p) => {
    const url = urlOf(p);
    let ok = 0;
    const t0 = performance.now();
    for (let i = 0; i < p.n; i += p.concurrency) {
      const batch = [];
      for (let j = i; j < Math.min(p.n, i + p.concurrency); j++) {
        batch.push(get(url));
      }
      for (const r of await Promise.all(batch)) ok += r;
    }
    const s = secondsSince(t0);
    check(ok === p.n, `${ok} responses`);
    return {
      how: `Promise.all batches of ${p.concurrency} + fetch`,
      metrics: { rate: p.n / s },
    };
  },
});
