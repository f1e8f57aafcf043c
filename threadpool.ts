/**
 * A pool of worker threads for CPU-bound or blocking work, awaited like any
 * greenlet's wait and cancelled like one (gevent's `ThreadPool`).
 *
 * `new ThreadPool({ size, module })` runs the named exports of `module` on
 * at most `size` threads (`node:worker_threads`, on Node and on Deno);
 * tasks queue first in, first out. `apply` is a switch point of the calling
 * greenlet: a kill or `Timeout` rejects it at once and cancels the task — a
 * queued one is dropped, a running one sees its `signal` abort and, if it has
 * not finished within `graceMs`, its thread is terminated and replaced.
 *
 * Engine: a small pool of our own (`_threadpool_worker.ts`), chosen over
 * piscina and tinypool by the figures in BENCHMARKS.md ("Thread pool
 * engines"): on Node it has the highest throughput of many small tasks and a
 * round trip between piscina's and tinypool's; on Deno the three are alike
 * (thread termination dominates abort latency for all). It keeps the library
 * free of runtime dependencies, runs one code path on both runtimes, and
 * gives the cancellation the contract asks for: abort, a grace period, then
 * terminate and replace the thread.
 *
 * @example A task module's export, run on a thread
 * ```ts
 * import { ThreadPool } from "./threadpool.ts";
 * import assert from "node:assert/strict";
 *
 * const module = "data:text/javascript,export const add = (a, b) => a + b;";
 * await using pool = new ThreadPool({ size: 2, module });
 * assert.equal(await pool.apply("add", 1, 2), 3);
 * ```
 *
 * @module
 */

import { checkOptions, describe, optionNames } from "./_util/mod.ts";
import { nativeClearTimeout, nativeSetTimeout, trackOp } from "./_core/mod.ts";
import "./mod.ts";
import { registerThreadPool } from "./hub.ts";
import { AsyncResult, spawn } from "./mod.ts";
import { checkItems, checkLimit, registerAsyncDispose } from "./_imap.ts";
import { Engine, type Job } from "./_threadpool_engine.ts";
import { ThreadImap } from "./_threadpool_imap.ts";

export {
  isTransfer,
  TRANSFER,
  type Transfer,
  transfer,
  type TransferItem,
} from "./threadpool_transfer.ts";

/** Options of {@linkcode ThreadPool}. */
export interface ThreadPoolOptions {
  /**
   * The URL of the module whose exports are the tasks. Without it (as for
   * `getHub().threadpool`), a task is named by a URL `"<module>#<export>"`;
   * a task named by a `URL` object is looked up that way in any case.
   */
  module?: string | URL;
  /** At most this many tasks run at once (threads); default: the cores. */
  size?: number;
  /**
   * How long (ms) a cancelled running task has to stop after its signal
   * aborts before its thread is terminated; default 100.
   */
  graceMs?: number;
}

/**
 * Options of {@linkcode ThreadPool.imap} and
 * {@linkcode ThreadPool.imapUnordered}.
 *
 * @example
 * ```ts
 * import { type ThreadImapOptions, ThreadPool } from "./threadpool.ts";
 * import assert from "node:assert/strict";
 *
 * const module = "data:text/javascript,export const inc = (n) => n + 1;";
 * await using pool = new ThreadPool({ size: 2, module });
 * const options: ThreadImapOptions = { maxsize: 1 };
 * const out: number[] = [];
 * for await (const n of pool.imap<number>("inc", [1, 2, 3], options)) out.push(n);
 * assert.deepEqual(out, [2, 3, 4]);
 * ```
 */
export interface ThreadImapOptions {
  /**
   * At most this many finished results wait for the consumer: while they
   * do, no item is pulled. An integer ≥ 1; default: the pool's `size`.
   */
  maxsize?: number | undefined;
}

const CREATE_OPTIONS = optionNames("module", "size", "graceMs");
const CLOSE_OPTIONS = optionNames("timeout");
const IMAP_OPTIONS = optionNames("maxsize");

function cores(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } })
    .navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** Closes a pool at once (for its hub, when the loop runs dry). */
let endPool: (pool: ThreadPool) => void;

/** `apply`'s start: submits `job`, settling the promise when it ends. */
function submitting(engine: Engine, job: Job): Promise<unknown> {
  return new Promise((resolve, reject) => {
    job.done = (ok, v) => ok ? resolve(v) : reject(v);
    engine.submit(job);
  });
}

/** `map`'s results, by index; the first failure closes the map. */
async function collect<T>(it: ThreadImap<T>): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const e = await it.nextEntry();
    if (e === null) return out;
    if (!e.ok) {
      await it.return();
      throw e.value;
    }
    out[e.index] = e.value as T;
  }
}

/**
 * A pool of `size` worker threads running the exports of one module.
 *
 * @example Errors come back with their message and cause
 * ```ts
 * import { ThreadPool } from "./threadpool.ts";
 * import assert from "node:assert/strict";
 *
 * const module = "data:text/javascript,export function fail() {" +
 *   " throw new Error('outer', { cause: new Error('inner') }); }";
 * await using pool = new ThreadPool({ size: 1, module });
 * await assert.rejects(pool.apply("fail"), (e: Error) =>
 *   e.message === "outer" && (e.cause as Error).message === "inner");
 * ```
 *
 * @example Buffers moved, not copied, both ways
 * ```ts
 * import { ThreadPool, transfer } from "./threadpool.ts";
 * import assert from "node:assert/strict";
 *
 * const module = "data:text/javascript,export function twice(a) {" +
 *   " const b = a.map((x) => 2 * x); return { [Symbol.for(" +
 *   "'gevent-ts.threadpool.transfer')]: true, value: b, list: [b.buffer] }; }";
 * await using pool = new ThreadPool({ size: 1, module });
 * const a = new Uint8Array([1, 2, 3]);
 * const b = await pool.apply<Uint8Array>("twice", transfer(a, [a.buffer]));
 * assert.equal(a.byteLength, 0); // moved to the thread
 * assert.deepEqual([...b], [2, 4, 6]);
 * ```
 */
export class ThreadPool {
  readonly #engine: Engine;

  static {
    endPool = (pool) =>
      void pool.#engine.terminateAll(new Error("ThreadPool closed"));
  }

  /**
   * Makes a pool; its threads start on demand (the first tasks).
   *
   * @param options `module`, `size`, `graceMs`.
   */
  constructor(options: ThreadPoolOptions = {}) {
    checkOptions("create ThreadPool", options, CREATE_OPTIONS);
    const { module, size = cores(), graceMs = 100 } = options ?? {};
    if (
      module !== undefined && typeof module !== "string" &&
      !(module instanceof URL)
    ) {
      throw new TypeError(
        `Cannot create ThreadPool: module must be a URL (string or URL) if given, received ${
          describe(module)
        }`,
      );
    }
    checkLimit("create ThreadPool", "size", size, null);
    if (typeof graceMs !== "number" || !(graceMs >= 0)) {
      throw new RangeError(
        `Cannot create ThreadPool: graceMs must be a number ≥ 0, received ${
          describe(graceMs)
        }`,
      );
    }
    this.#engine = new Engine(
      size,
      module === undefined ? null : String(module),
      graceMs,
    );
  }

  /** The most tasks that run at once (the threads). */
  get size(): number {
    return this.#engine.size;
  }

  /** Whether `close` was called (the pool takes no more tasks). */
  get closed(): boolean {
    return this.#engine.closed;
  }

  /** `ThreadPool(size=N, running=R, queued=Q)`. */
  toString(): string {
    const e = this.#engine;
    return `ThreadPool(size=${e.size}, running=${e.running}, queued=${e.queued})`;
  }

  /**
   * Runs the export `name` of the module with `args` (and, last,
   * `{ signal }`) on a thread and waits for its result: a switch point.
   * A kill or `Timeout` of the waiting greenlet cancels the task. An
   * argument marked by {@linkcode transfer} moves its buffers at this call.
   *
   * @param name The export's name.
   * @param args Its arguments (structured-cloneable).
   * @returns What the task returned (or the error it threw, rebuilt).
   */
  apply<T = unknown>(name: string | URL, ...args: unknown[]): Promise<T> {
    const engine = this.#engine;
    const job = engine.job("apply", name, args);
    return trackOp(
      `ThreadPool.apply(${String(name)})`,
      () => submitting(engine, job),
      (reason) => engine.cancel(job, reason),
    ) as Promise<T>;
  }

  /**
   * `apply` in a new greenlet: the result arrives in an `AsyncResult`.
   *
   * @param name The export's name.
   * @param args Its arguments.
   * @returns The result to wait on (`get()`).
   */
  spawn<T = unknown>(name: string | URL, ...args: unknown[]): AsyncResult<T> {
    this.#engine.check("spawn", name);
    const r = new AsyncResult<T>();
    spawn(async () => {
      try {
        r.set(await this.apply<T>(name, ...args));
      } catch (e) {
        r.setException(e);
      }
    });
    return r;
  }

  /**
   * The task run on each item (one argument each), results in item order.
   * The input (any iterable or async iterable) is pulled lazily: at most
   * `size` of its tasks are in flight. The first failure (in completion
   * order) rejects at once, cancels the tasks in flight and closes the
   * input; so does a kill of the caller.
   *
   * @param name The export's name.
   * @param items The arguments.
   * @returns The results.
   */
  map<T = unknown>(
    name: string | URL,
    items: Iterable<unknown> | AsyncIterable<unknown>,
  ): Promise<T[]> {
    this.#open("map", name, items);
    return collect(
      new ThreadImap<T>(this.#engine, "map", name, items, false, Infinity),
    );
  }

  /**
   * The results of the task on each item, in item order, as they come.
   * The input is pulled only by `next()`: at most `size` of its tasks in
   * flight, and nothing pulled while `maxsize` finished results wait (a
   * slow consumer holds back the input; an endless input works). An
   * item's error is raised at its place and the iteration goes on; leaving
   * early (`break`, `return()`, `await using`) cancels the tasks in flight
   * and closes the input, as does a kill of the consumer in `next()`.
   *
   * @param name The export's name.
   * @param items The arguments: any iterable or async iterable.
   * @param options `maxsize` (default: `size`).
   * @returns The results, in item order.
   *
   * @example An endless input, pulled as the results are taken
   * ```ts
   * import { ThreadPool } from "./threadpool.ts";
   * import assert from "node:assert/strict";
   *
   * const module = "data:text/javascript,export const sq = (n) => n * n;";
   * await using pool = new ThreadPool({ size: 1, module });
   * let pulled = 0;
   * function* naturals() {
   *   for (let n = 1; ; n++, pulled++) yield n;
   * }
   * const out: number[] = [];
   * for await (const v of pool.imap<number>("sq", naturals())) {
   *   out.push(v);
   *   if (out.length === 3) break;
   * }
   * assert.deepEqual(out, [1, 4, 9]);
   * assert.equal(pulled, 3); // one ahead of the consumer at most
   * ```
   */
  imap<T = unknown>(
    name: string | URL,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    options?: ThreadImapOptions,
  ): AsyncIterableIterator<T> & AsyncDisposable {
    return this.#imap<T>("imap", name, items, true, options);
  }

  /**
   * Like {@linkcode ThreadPool.imap}, the results in the order they finish.
   *
   * @param name The export's name.
   * @param items The arguments: any iterable or async iterable.
   * @param options `maxsize` (default: `size`).
   * @returns The results, as they finish.
   */
  imapUnordered<T = unknown>(
    name: string | URL,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    options?: ThreadImapOptions,
  ): AsyncIterableIterator<T> & AsyncDisposable {
    return this.#imap<T>("imapUnordered", name, items, false, options);
  }

  #imap<T>(
    action: string,
    name: string | URL,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    ordered: boolean,
    options: ThreadImapOptions | undefined,
  ): ThreadImap<T> {
    this.#open(action, name, items);
    checkOptions(`${action} on ThreadPool`, options, IMAP_OPTIONS);
    const maxsize = options?.maxsize ?? this.#engine.size;
    checkLimit(`${action} on ThreadPool`, "maxsize", maxsize, null);
    return new ThreadImap<T>(
      this.#engine,
      action,
      name,
      items,
      ordered,
      maxsize,
    );
  }

  #open(action: string, name: string | URL, items: unknown): void {
    this.#engine.resolve(action, name);
    checkItems(`${action} on ThreadPool`, items);
  }

  /**
   * Stops taking tasks, waits up to `timeout` ms for the submitted ones to
   * finish, then terminates every thread (a task still running is rejected).
   *
   * @param options `timeout` (ms): default, wait without limit.
   */
  close(options?: { timeout?: number }): Promise<void> {
    checkOptions("close ThreadPool", options, CLOSE_OPTIONS);
    const timeout = options?.timeout ?? Infinity;
    if (typeof timeout !== "number" || !(timeout >= 0)) {
      throw new RangeError(
        `Cannot close ThreadPool: timeout must be a number ≥ 0, received ${
          describe(timeout)
        }`,
      );
    }
    const engine = this.#engine;
    engine.closed = true;
    let timer: unknown = null;
    return trackOp(
      "ThreadPool.close",
      () =>
        new Promise<void>((resolve) => {
          const finish = () => {
            if (timer !== null) nativeClearTimeout(timer);
            engine.terminateAll(new Error("ThreadPool closed")).then(resolve);
          };
          if (timeout !== Infinity) timer = nativeSetTimeout(finish, timeout);
          engine.whenDrained(finish);
        }),
      () => {
        if (timer !== null) nativeClearTimeout(timer);
        void engine.terminateAll(new Error("ThreadPool closed"));
      },
    );
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

registerAsyncDispose(ThreadPool.prototype);
registerThreadPool(() => new ThreadPool(), endPool);
