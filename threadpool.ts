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

import { checkOptions, Deque, describe, optionNames } from "./_util/mod.ts";
import { nativeClearTimeout, nativeSetTimeout, trackOp } from "./_core/mod.ts";
import "./mod.ts";
import { registerThreadPool } from "./hub.ts";
import { AsyncResult, spawn } from "./mod.ts";
import { registerAsyncDispose } from "./_imap.ts";
import {
  type Flat,
  loadWorkerCtor,
  rebuildError,
  startThread,
  type Thread,
} from "./_threadpool_worker.ts";

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

const CREATE_OPTIONS = optionNames("module", "size", "graceMs");
const CLOSE_OPTIONS = optionNames("timeout");
const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

interface Job {
  id: number;
  url: string;
  name: string;
  args: unknown[];
  state: number;
  slot: Slot | null;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  thread: Thread;
  job: Job | null;
  killTimer: unknown;
  dead: boolean;
}

function cores(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } })
    .navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? `${reason.name}: ${reason.message}` : String(
    reason,
  );
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
 */
export class ThreadPool {
  readonly #size: number;
  readonly #url: string | null;
  readonly #graceMs: number;
  readonly #queue = new Deque<Job>();
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  #nextId = 1;
  #running = 0;
  #queued = 0;
  #closed = false;
  #drained: (() => void) | null = null;

  /**
   * Makes a pool; its threads start on demand (the first tasks).
   *
   * @param options `module` (required), `size`, `graceMs`.
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
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `Cannot create ThreadPool: size must be an integer ≥ 1, received ${
          describe(size)
        }`,
      );
    }
    if (typeof graceMs !== "number" || !(graceMs >= 0)) {
      throw new RangeError(
        `Cannot create ThreadPool: graceMs must be a number ≥ 0, received ${
          describe(graceMs)
        }`,
      );
    }
    this.#url = module === undefined ? null : String(module);
    this.#size = size;
    this.#graceMs = graceMs;
  }

  /** The most tasks that run at once (the threads). */
  get size(): number {
    return this.#size;
  }

  /** Whether `close` was called (the pool takes no more tasks). */
  get closed(): boolean {
    return this.#closed;
  }

  /** `ThreadPool(size=N, running=R, queued=Q)`. */
  toString(): string {
    return `ThreadPool(size=${this.#size}, running=${this.#running}, queued=${this.#queued})`;
  }

  /**
   * Runs the export `name` of the module with `args` (and, last,
   * `{ signal }`) on a thread and waits for its result: a switch point.
   * A kill or `Timeout` of the waiting greenlet cancels the task.
   *
   * @param name The export's name.
   * @param args Its arguments (structured-cloneable).
   * @returns What the task returned (or the error it threw, rebuilt).
   */
  apply<T = unknown>(name: string | URL, ...args: unknown[]): Promise<T> {
    const job = this.#job("apply", name, args);
    return trackOp(
      `ThreadPool.apply(${String(name)})`,
      () => this.#submit(job),
      (reason) => this.#cancel(job, reason),
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
    this.#check("spawn", name);
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
   * The task run on each item (one argument each), results in item order;
   * at most `size` run at once. One wait: a kill cancels every task.
   *
   * @param name The export's name.
   * @param items The arguments.
   * @returns The results.
   */
  map<T = unknown>(name: string | URL, items: Iterable<unknown>): Promise<T[]> {
    this.#check("map", name);
    const jobs = [...items].map((item) => this.#job("map", name, [item]));
    return trackOp(
      `ThreadPool.map(${String(name)})`,
      () => Promise.all(jobs.map((j) => this.#submit(j))),
      (reason) => {
        for (const j of jobs) this.#cancel(j, reason);
      },
    ) as Promise<T[]>;
  }

  /**
   * Like {@linkcode ThreadPool.map}, the results yielded in item order as
   * they come; leaving the loop early cancels the rest.
   *
   * @param name The export's name.
   * @param items The arguments.
   * @returns The results, in item order.
   */
  imap<T = unknown>(
    name: string | URL,
    items: Iterable<unknown>,
  ): AsyncGenerator<T> {
    return this.#imap<T>("imap", name, items, true);
  }

  /**
   * Like {@linkcode ThreadPool.imap}, the results in the order they finish.
   *
   * @param name The export's name.
   * @param items The arguments.
   * @returns The results, as they finish.
   */
  imapUnordered<T = unknown>(
    name: string | URL,
    items: Iterable<unknown>,
  ): AsyncGenerator<T> {
    return this.#imap<T>("imapUnordered", name, items, false);
  }

  async *#imap<T>(
    action: string,
    name: string | URL,
    items: Iterable<unknown>,
    ordered: boolean,
  ): AsyncGenerator<T> {
    this.#check(action, name);
    const jobs = [...items].map((item) => this.#job(action, name, [item]));
    const settled: Promise<number>[] = jobs.map((j, i) =>
      this.#submit(j).then(() => i, () => i)
    );
    const results = jobs.map((j) => this.#submitted.get(j)!);
    const left = new Set(jobs.map((_, i) => i));
    try {
      for (let n = 0; n < jobs.length; n++) {
        const i = ordered ? n : await trackOp(
          `ThreadPool.${action}(${String(name)})`,
          () => Promise.race([...left].map((k) => settled[k])),
          (reason) => {
            for (const k of left) this.#cancel(jobs[k], reason);
          },
        );
        left.delete(i);
        yield await trackOp(
          `ThreadPool.${action}(${String(name)})`,
          () => results[i],
          (reason) => {
            for (const k of [i, ...left]) this.#cancel(jobs[k], reason);
          },
        ) as T;
      }
    } finally {
      for (const k of left) this.#cancel(jobs[k], new Error("imap closed"));
    }
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
    this.#closed = true;
    let timer: unknown = null;
    return trackOp(
      "ThreadPool.close",
      () =>
        new Promise<void>((resolve) => {
          const finish = () => {
            if (timer !== null) nativeClearTimeout(timer);
            this.#terminateAll(new Error("ThreadPool closed")).then(resolve);
          };
          if (this.#running === 0 && this.#queued === 0) {
            finish();
            return;
          }
          this.#drained = finish;
          if (timeout !== Infinity) timer = nativeSetTimeout(finish, timeout);
        }),
      () => {
        if (timer !== null) nativeClearTimeout(timer);
        void this.#terminateAll(new Error("ThreadPool closed"));
      },
    );
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----

  readonly #submitted = new WeakMap<Job, Promise<unknown>>();

  #check(action: string, name: unknown): void {
    if (typeof name !== "string" && !(name instanceof URL)) {
      throw new TypeError(
        `Cannot ${action} on ThreadPool: name must be a string or URL, received ${
          describe(name)
        }`,
      );
    }
    if (this.#closed) {
      throw new Error(`Cannot ${action} on ThreadPool: it is closed`);
    }
  }

  #job(action: string, task: string | URL, args: unknown[]): Job {
    this.#check(action, task);
    let url = this.#url;
    let name = String(task);
    if (url === null || task instanceof URL) {
      const hash = name.lastIndexOf("#");
      if (hash < 0) {
        throw new TypeError(
          `Cannot ${action} on ThreadPool: without a module, name must be a URL "<module>#<export>", received ${
            describe(name)
          }`,
        );
      }
      url = name.slice(0, hash);
      name = name.slice(hash + 1);
    }
    return {
      id: this.#nextId++,
      url,
      name,
      args,
      state: QUEUED,
      slot: null,
      resolve: noop,
      reject: noop,
    };
  }

  #submit(job: Job): Promise<unknown> {
    const p = new Promise<unknown>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    this.#submitted.set(job, p);
    p.catch(noop);
    this.#queue.push(job);
    this.#queued++;
    this.#dispatch();
    return p;
  }

  #dispatch(): void {
    while (this.#queue.size > 0) {
      const head = this.#queue.first()!;
      if (head.state === DONE) {
        this.#queue.shift();
        continue;
      }
      if (this.#running >= this.#size) return;
      let slot = this.#idle.pop();
      if (slot === undefined) {
        if (this.#slots.size >= this.#size) return;
        if (!this.#ensureLoaded()) return;
        slot = this.#newSlot();
      }
      this.#queue.shift();
      this.#queued--;
      head.state = RUNNING;
      head.slot = slot;
      slot.job = head;
      this.#running++;
      slot.thread.ref();
      try {
        slot.thread.postMessage({
          t: "run",
          id: head.id,
          url: head.url,
          name: head.name,
          args: head.args,
        });
      } catch (e) {
        this.#finish(slot, head, false, e);
      }
    }
    this.#maybeDrained();
  }

  #loadingThreads = false;

  #ensureLoaded(): boolean {
    if (this.#threadsReady) return true;
    if (!this.#loadingThreads) {
      this.#loadingThreads = true;
      loadWorkerCtor().then(() => {
        this.#threadsReady = true;
        this.#dispatch();
      }, (e) => {
        for (const j of this.#queue.toArray()) this.#settle(j, false, e);
      });
    }
    return false;
  }

  #threadsReady = false;

  #newSlot(): Slot {
    const slot: Slot = {
      thread: startThread(),
      job: null,
      killTimer: null,
      dead: false,
    };
    this.#slots.add(slot);
    slot.thread.on("message", (m) => {
      const msg = m as { t: string; id: number; ok: boolean; v: unknown };
      const job = slot.job;
      if (msg.t !== "done" || job === null || job.id !== msg.id) return;
      this.#finish(
        slot,
        job,
        msg.ok,
        msg.ok ? msg.v : rebuildError(msg.v as Flat),
      );
    });
    slot.thread.on("error", (e) => {
      // an uncaught error in the worker ends it: fail its task, replace it
      this.#kill(slot, e);
    });
    slot.thread.on("exit", () => {
      if (!slot.dead) this.#kill(slot, new Error("ThreadPool worker exited"));
    });
    return slot;
  }

  #finish(slot: Slot, job: Job, ok: boolean, v: unknown): void {
    if (slot.killTimer !== null) {
      nativeClearTimeout(slot.killTimer);
      slot.killTimer = null;
    }
    slot.job = null;
    this.#running--;
    this.#settle(job, ok, v);
    if (!slot.dead) {
      slot.thread.unref();
      this.#idle.push(slot);
    }
    this.#dispatch();
  }

  #settle(job: Job, ok: boolean, v: unknown): void {
    if (job.state === DONE) return;
    job.state = DONE;
    job.slot = null;
    if (ok) job.resolve(v);
    else job.reject(v);
  }

  #cancel(job: Job, reason: unknown): void {
    if (job.state === QUEUED) {
      // left in the queue, skipped by #dispatch
      this.#queued--;
      this.#settle(job, false, reason);
      this.#maybeDrained();
    } else if (job.state === RUNNING) {
      const slot = job.slot!;
      slot.thread.postMessage({
        t: "abort",
        id: job.id,
        reason: reasonText(reason),
      });
      slot.killTimer = nativeSetTimeout(
        () => this.#kill(slot, reason),
        this.#graceMs,
      );
    }
  }

  /** Terminates `slot`'s thread, failing its task with `reason`. */
  #kill(slot: Slot, reason: unknown): void {
    if (slot.dead) return;
    slot.dead = true;
    this.#slots.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    void slot.thread.terminate();
    if (!this.#closed) {
      // its replacement starts now, not on the next task (start-up ~30 ms)
      const fresh = this.#newSlot();
      fresh.thread.unref();
      this.#idle.push(fresh);
    }
    const job = slot.job;
    if (job !== null) this.#finish(slot, job, false, reason);
    else this.#dispatch();
  }

  #maybeDrained(): void {
    if (this.#drained === null || this.#running > 0 || this.#queued > 0) {
      return;
    }
    const d = this.#drained;
    this.#drained = null;
    d();
  }

  async #terminateAll(reason: unknown): Promise<void> {
    this.#closed = true;
    this.#drained = null;
    for (const j of this.#queue.toArray()) this.#settle(j, false, reason);
    while (this.#queue.shift() !== undefined);
    this.#queued = 0;
    const slots = [...this.#slots];
    const exits = slots.map((s) => {
      s.dead = true;
      if (s.killTimer !== null) nativeClearTimeout(s.killTimer);
      return s.thread.terminate();
    });
    for (const s of slots) {
      if (s.job !== null) this.#settle(s.job, false, reason);
      s.job = null;
    }
    this.#slots.clear();
    this.#idle.length = 0;
    this.#running = 0;
    await Promise.all(exits);
  }
}

registerAsyncDispose(ThreadPool.prototype);
registerThreadPool(() => new ThreadPool());

function noop(): void {}
