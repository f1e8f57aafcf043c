/**
 * Queues (gevent's `gevent.queue`): {@linkcode Queue} (FIFO, bounded or
 * not), {@linkcode LifoQueue}, {@linkcode PriorityQueue},
 * {@linkcode JoinableQueue} and {@linkcode Channel} (a rendezvous). Getters
 * and putters wait in FIFO order; an item goes straight to the longest
 * waiting getter, so a later caller never takes it first. Subclasses
 * change only the storage — `_put`, `_get`, `_peek`, `_qsize` — never the
 * waiting logic.
 *
 * @module
 */

import {
  checkBlocking,
  checkFunction,
  checkOptions,
  Deque,
  describe,
  Heap,
  inspectAsString,
  optionNames,
  WaitLabel,
} from "./_util/mod.ts";
import {
  currentScope,
  inspectCreated,
  NO_OPTIONS,
  noteCreation,
  settle,
  unhindered,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
} from "./_core/mod.ts";
import { type BlockingOptions, Event, waitOptions } from "./event.ts";

/**
 * Thrown by `getNowait()`/`peekNowait()` on an empty queue, and by `get()`
 * or `peek()` when their `timeout` passes (gevent's `Empty`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue, QueueEmpty } from "./mod.ts";
 * assert.throws(() => new Queue().getNowait(), QueueEmpty);
 * ```
 */
export class QueueEmpty extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message = "Queue is empty") {
    super(message);
    this.name = "QueueEmpty";
  }
}

/**
 * Thrown by `putNowait()` on a full queue, and by `put()` when its `timeout`
 * passes (gevent's `Full`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue, QueueFull } from "./mod.ts";
 * const q = new Queue<number>(1);
 * q.putNowait(1);
 * assert.throws(() => q.putNowait(2), QueueFull);
 * ```
 */
export class QueueFull extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message = "Queue is full") {
    super(message);
    this.name = "QueueFull";
  }
}

/**
 * Thrown by a put into a closed queue (and into the puts blocked when it
 * closed), and by a get or peek once a closed queue is empty: `for await`
 * over the queue ends there instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue, QueueClosed } from "./mod.ts";
 * const q = new Queue<number>();
 * q.close();
 * assert.throws(() => q.putNowait(1), QueueClosed);
 * ```
 */
export class QueueClosed extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message = "Queue is closed") {
    super(message);
    this.name = "QueueClosed";
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/** A blocked put carries its item. */
interface PutWait extends WaitOptions {
  readonly item: unknown;
}

/** A blocked peek is told apart from a blocked get. */
interface GetWait extends WaitOptions {
  readonly peek: boolean;
}

function isPeek(w: Waiter): boolean {
  return (w.options as GetWait).peek === true;
}

function checkMaxsize(kind: string, maxsize: unknown): number {
  if (maxsize === undefined) return Infinity;
  if (typeof maxsize !== "number" || Number.isNaN(maxsize)) {
    throw new TypeError(
      `Cannot create ${kind}: maxsize must be a number or undefined (unbounded), received ${
        describe(maxsize)
      }`,
    );
  }
  if (maxsize < 1 || (maxsize !== Infinity && !Number.isInteger(maxsize))) {
    throw new RangeError(
      `Cannot create ${kind}: maxsize must be an integer ≥ 1 or undefined (unbounded), received ${maxsize}${
        maxsize === 0 ? " (a Channel is the rendezvous queue)" : ""
      }`,
    );
  }
  return maxsize;
}

/**
 * A FIFO queue of items between greenlets (gevent's `Queue`), unbounded
 * when `maxsize` is omitted. `put` waits while the queue is full, `get`
 * while it is empty; both are switch points that take `{ timeout, signal }`
 * and wait in FIFO order. A put while getters wait hands the item to the
 * longest waiting one. Items are never lost or duplicated: a get cancelled
 * by a kill, timeout or signal takes nothing, a put cancelled so adds
 * nothing. `close()` ends it: gets drain what is left, then throw
 * {@linkcode QueueClosed}, and `for await` ends.
 *
 * @example Producer and consumer
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, Queue, spawn } from "./mod.ts";
 * const q = new Queue<number>(2);
 * const got: number[] = [];
 * const producer = spawn(async () => {
 *   for (let i = 0; i < 5; i++) await q.put(i); // waits while 2 are queued
 *   q.close();
 * });
 * const consumer = spawn(async () => {
 *   for await (const item of q) got.push(item);
 * });
 * await joinAll([producer, consumer]);
 * assert.deepEqual(got, [0, 1, 2, 3, 4]);
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T> {
  readonly #maxsize: number;
  #items: Deque<T> | null = null;
  /** Blocked gets and peeks, oldest first. */
  readonly #getters = new WaiterList();
  /** Blocked puts, oldest first; each carries its item. */
  readonly #putters = new WaiterList();
  #closed = false;
  readonly #getSource: WaitLabel;
  readonly #putSource: WaitLabel;
  readonly #peekSource: WaitLabel;
  readonly #getWait: GetWait;
  readonly #peekWait: GetWait;

  static {
    inspectAsString(this, inspectCreated);
  }

  /**
   * Creates an empty queue.
   *
   * @param maxsize The most items it holds (an integer ≥ 1); omitted or
   * `Infinity`: unbounded. For a rendezvous (maxsize 0), use
   * {@linkcode Channel}.
   */
  constructor(maxsize?: number) {
    // a Channel (or a subclass of it) is a rendezvous: maxsize 0
    this.#maxsize = this instanceof Channel
      ? 0
      : checkMaxsize(new.target.name, maxsize);
    this.#getSource = new WaitLabel("get from", this);
    this.#putSource = new WaitLabel("put into", this);
    this.#peekSource = new WaitLabel("peek at", this);
    this.#getWait = { list: this.#getters, peek: false };
    this.#peekWait = { list: this.#getters, peek: true };
    noteCreation(this, new.target);
  }

  /**
   * `Queue(maxsize=2, items=1)`, with waiting getters and putters when
   * there are: how its waits show in run info.
   *
   * @returns A one-line description.
   */
  toString(): string {
    let s = `${this.constructor.name}(`;
    if (this.#maxsize !== Infinity) s += `maxsize=${this.#maxsize}, `;
    s += `items=${this._qsize()}`;
    if (this.#getters.size !== 0) s += `, getters=${this.#getters.size}`;
    if (this.#putters.size !== 0) s += `, putters=${this.#putters.size}`;
    if (this.#closed) s += ", closed";
    return s + ")";
  }

  /** The most items it holds; undefined when unbounded (0 for a Channel). */
  get maxsize(): number | undefined {
    return this.#maxsize === Infinity ? undefined : this.#maxsize;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stores an item (the storage's bottleneck: override with `_get`,
   * `_peek` and `_qsize` for another order).
   *
   * @param item The item.
   */
  protected _put(item: T): void {
    (this.#items ??= new Deque()).push(item);
  }

  /**
   * Removes and returns the next item (called only when `_qsize() > 0`).
   *
   * @returns The oldest item.
   */
  protected _get(): T {
    return this.#items!.shift() as T;
  }

  /**
   * Returns the next item without removing it (when `_qsize() > 0`).
   *
   * @returns The oldest item.
   */
  protected _peek(): T {
    return this.#items!.first() as T;
  }

  /**
   * The number of stored items.
   *
   * @returns The count.
   */
  protected _qsize(): number {
    return this.#items === null ? 0 : this.#items.size;
  }

  /**
   * The number of items queued.
   *
   * @returns The count.
   */
  qsize(): number {
    return this._qsize();
  }

  /**
   * Whether no item is queued.
   *
   * @returns `qsize() === 0`.
   */
  empty(): boolean {
    return this._qsize() === 0;
  }

  /**
   * Whether a put would wait now (never for an unbounded queue).
   *
   * @returns `qsize() >= maxsize`.
   */
  full(): boolean {
    return this._qsize() >= this.#maxsize;
  }

  /**
   * Puts an item without waiting.
   *
   * @param item The item.
   * @throws {QueueFull} When the queue is full.
   * @throws {QueueClosed} After `close()`.
   */
  putNowait(item: T): void {
    if (this.#closed) throw this.#closedError("put into");
    if (!this.#offer(item)) {
      throw new QueueFull(
        `Cannot put into ${this}: it is full`,
      );
    }
  }

  /**
   * Puts an item, waiting in FIFO order while the queue is full (a switch
   * point). A waiting getter receives it directly.
   *
   * @param item The item.
   * @param options `timeout` in milliseconds (then it rejects with
   * {@linkcode QueueFull} and the item is not queued) and `signal`.
   * @returns A promise that resolves once the item is queued or taken.
   */
  put(item: T, options?: BlockingOptions): Promise<void> {
    if (options !== undefined) checkBlocking("put into", this, options);
    if (this.#closed) return Promise.reject(this.#closedError("put into"));
    const scope = currentScope();
    if (
      options?.signal?.aborted !== true && unhindered(scope) &&
      this.#offer(item)
    ) {
      if (this.#maxsize !== 0) return RESOLVED;
      // a rendezvous: the putter resumes after the getter that took it
      const w = waitOn(scope, this.#putSource, NO_OPTIONS);
      settle(w, true, undefined);
      return w.promise as Promise<void>;
    }
    const timeout = options?.timeout;
    const wait: PutWait = {
      list: this.#putters,
      timeout,
      signal: options?.signal,
      timeoutError: timeout === undefined ? undefined : () =>
        new QueueFull(
          `Cannot put into ${this}: still full after ${timeout} ms`,
        ),
      item,
    };
    const w = waitOn(scope, this.#putSource, wait);
    if (w.active) this.#showPeekers(item);
    return w.promise as Promise<void>;
  }

  /**
   * Takes the next item without waiting.
   *
   * @returns The item.
   * @throws {QueueEmpty} When nothing is queued.
   * @throws {QueueClosed} When it is closed and empty.
   */
  getNowait(): T {
    if (this._qsize() !== 0) return this.#take();
    if (this.#putters.size !== 0) return this.#takeFromPutter();
    throw this.#closed
      ? this.#closedError("get from")
      : new QueueEmpty(`Cannot get from ${this}: it is empty`);
  }

  /**
   * Takes the next item, waiting in FIFO order while the queue is empty (a
   * switch point).
   *
   * @param options `timeout` in milliseconds (then it rejects with
   * {@linkcode QueueEmpty}) and `signal`.
   * @returns A promise of the item; rejects with {@linkcode QueueClosed}
   * once the queue is closed and empty.
   */
  get(options?: BlockingOptions): Promise<T> {
    if (options !== undefined) checkBlocking("get from", this, options);
    const scope = currentScope();
    if (options?.signal?.aborted !== true && unhindered(scope)) {
      if (this._qsize() !== 0) return Promise.resolve(this.#take());
      if (this.#putters.size !== 0) {
        return Promise.resolve(this.#takeFromPutter());
      }
      if (this.#closed) return Promise.reject(this.#closedError("get from"));
    }
    return waitOn(
      scope,
      this.#getSource,
      options === undefined ? this.#getWait : this.#waitFor(options, false),
    ).promise as Promise<T>;
  }

  /**
   * The next item, not taken, without waiting.
   *
   * @returns The item a `get` would return now.
   * @throws {QueueEmpty} When nothing is queued.
   * @throws {QueueClosed} When it is closed and empty.
   */
  peekNowait(): T {
    if (this._qsize() !== 0) return this._peek();
    const p = this.#putters.head;
    if (p !== null) return (p.options as PutWait).item as T;
    throw this.#closed
      ? this.#closedError("peek at")
      : new QueueEmpty(`Cannot peek at ${this}: it is empty`);
  }

  /**
   * The next item, not taken, waiting while the queue is empty (a switch
   * point).
   *
   * @param options `timeout` in milliseconds (then it rejects with
   * {@linkcode QueueEmpty}) and `signal`.
   * @returns A promise of the item a `get` would return.
   */
  peek(options?: BlockingOptions): Promise<T> {
    if (options !== undefined) checkBlocking("peek at", this, options);
    const scope = currentScope();
    if (options?.signal?.aborted !== true && unhindered(scope)) {
      if (this._qsize() !== 0 || this.#putters.size !== 0) {
        return Promise.resolve(this.peekNowait());
      }
      if (this.#closed) return Promise.reject(this.#closedError("peek at"));
    }
    return waitOn(
      scope,
      this.#peekSource,
      options === undefined ? this.#peekWait : this.#waitFor(options, true),
    ).promise as Promise<T>;
  }

  /**
   * Closes the queue: puts throw {@linkcode QueueClosed} from now on (and
   * puts blocked now reject with it; their items are not queued); gets
   * take what is left, then throw it, and `for await` ends. Blocked gets
   * and peeks (the queue is empty then) reject with it at once. Closing
   * twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let w: Waiter | null;
    while ((w = this.#getters.head) !== null) {
      settle(w, false, this.#closedError(isPeek(w) ? "peek at" : "get from"));
    }
    while ((w = this.#putters.head) !== null) {
      settle(w, false, this.#closedError("put into"));
    }
  }

  /**
   * Iterates by `get()` until the queue is closed and empty; each step is a
   * switch point like `get()`.
   *
   * @returns An async iterator of the items.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return new QueueIterator(this);
  }

  /**
   * Accepts `item` if it can go now: to the first waiting getter (the
   * peekers ahead of it see it first) or into storage. False if it must
   * wait.
   */
  #offer(item: T): boolean {
    const getters = this.#getters;
    if (getters.size !== 0) {
      let g = getters.head;
      while (g !== null && isPeek(g)) g = g.next;
      if (g !== null || this._qsize() < this.#maxsize) {
        this.#showPeekers(item);
        this._put(item);
        if (g !== null) settle(g, true, this._get());
        return true;
      }
      return false;
    }
    if (this._qsize() < this.#maxsize) {
      this._put(item);
      return true;
    }
    return false;
  }

  /** Wakes the peekers at the head of the getters with `item`. */
  #showPeekers(item: T): void {
    let w: Waiter | null;
    while ((w = this.#getters.head) !== null && isPeek(w)) {
      settle(w, true, item);
    }
  }

  /** `_get()`, then the longest waiting putter's item takes the free slot. */
  #take(): T {
    const item = this._get();
    const p = this.#putters.head;
    if (p !== null && this._qsize() < this.#maxsize) {
      this._put((p.options as PutWait).item as T);
      settle(p, true, undefined);
    }
    return item;
  }

  /** A rendezvous: the longest waiting putter's item, through storage. */
  #takeFromPutter(): T {
    const p = this.#putters.head!;
    this._put((p.options as PutWait).item as T);
    settle(p, true, undefined);
    return this._get();
  }

  #waitFor(options: BlockingOptions, peek: boolean): GetWait {
    const timeout = options.timeout;
    return {
      list: this.#getters,
      timeout,
      signal: options.signal,
      timeoutError: timeout === undefined ? undefined : () =>
        new QueueEmpty(
          `Cannot ${
            peek ? "peek at" : "get from"
          } ${this}: still empty after ${timeout} ms`,
        ),
      peek,
    };
  }

  #closedError(action: string): QueueClosed {
    return new QueueClosed(`Cannot ${action} ${this}: it is closed`);
  }
}

const DONE: IteratorResult<never, undefined> = { done: true, value: undefined };

function toResult<T>(value: T): IteratorResult<T, undefined> {
  return { done: false, value };
}

function endOnClose(e: unknown): IteratorResult<never, undefined> {
  if (e instanceof QueueClosed) return DONE;
  throw e;
}

/** `for await` over a queue: `get()` until it is closed and empty. */
class QueueIterator<T> implements AsyncIterableIterator<T> {
  readonly #queue: Queue<T>;
  constructor(queue: Queue<T>) {
    this.#queue = queue;
  }
  next(): Promise<IteratorResult<T, undefined>> {
    return this.#queue.get().then(toResult, endOnClose);
  }
  return(): Promise<IteratorResult<T, undefined>> {
    return Promise.resolve(DONE);
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/**
 * A queue that returns the most recently put item first (gevent's
 * `LifoQueue`); only its storage differs from {@linkcode Queue}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LifoQueue } from "./mod.ts";
 * const q = new LifoQueue<number>();
 * for (const i of [1, 2, 3]) q.putNowait(i);
 * assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [3, 2, 1]);
 * ```
 */
export class LifoQueue<T = unknown> extends Queue<T> {
  #stack: T[] = [];

  /**
   * Pushes on the stack.
   *
   * @param item The item.
   */
  protected override _put(item: T): void {
    this.#stack.push(item);
  }

  /**
   * Pops the newest item.
   *
   * @returns The newest item.
   */
  protected override _get(): T {
    return this.#stack.pop() as T;
  }

  /**
   * The newest item, not removed.
   *
   * @returns The newest item.
   */
  protected override _peek(): T {
    return this.#stack[this.#stack.length - 1];
  }

  /**
   * The number of stored items.
   *
   * @returns The count.
   */
  protected override _qsize(): number {
    return this.#stack.length;
  }
}

/** Options of a {@linkcode PriorityQueue}. */
export interface PriorityQueueOptions<T> {
  /**
   * Orders items: negative when `a` comes out before `b` (as
   * `Array.prototype.sort`). Default: `<` on the items themselves.
   */
  comparator?: ((a: T, b: T) => number) | undefined;
}

const PRIORITY_QUEUE_OPTIONS = optionNames("comparator");

function natural(a: unknown, b: unknown): number {
  return (a as number) < (b as number)
    ? -1
    : (a as number) > (b as number)
    ? 1
    : 0;
}

/**
 * A queue that returns the lowest item first (gevent's `PriorityQueue`, a
 * binary heap); items that compare equal come out in the order they were
 * put. Only its storage differs from {@linkcode Queue}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PriorityQueue } from "./mod.ts";
 * const q = new PriorityQueue<{ p: number; job: string }>(undefined, {
 *   comparator: (a, b) => a.p - b.p,
 * });
 * q.putNowait({ p: 2, job: "later" });
 * q.putNowait({ p: 1, job: "first" });
 * assert.equal(q.getNowait().job, "first");
 * ```
 */
export class PriorityQueue<T = unknown> extends Queue<T> {
  readonly #heap: Heap<T>;

  /**
   * Creates an empty priority queue.
   *
   * @param maxsize The most items it holds; omitted: unbounded.
   * @param options `comparator` (negative when `a` comes first).
   */
  constructor(maxsize?: number, options?: PriorityQueueOptions<T>) {
    super(maxsize);
    checkOptions("create PriorityQueue", options, PRIORITY_QUEUE_OPTIONS);
    const c = options?.comparator;
    if (c !== undefined) checkFunction("create PriorityQueue", "comparator", c);
    this.#heap = new Heap<T>(c ?? natural); // ties come out in put order
  }

  /**
   * Adds to the heap.
   *
   * @param item The item.
   */
  protected override _put(item: T): void {
    this.#heap.push(item);
  }

  /**
   * Removes the lowest item.
   *
   * @returns The lowest item.
   */
  protected override _get(): T {
    return this.#heap.pop() as T;
  }

  /**
   * The lowest item, not removed.
   *
   * @returns The lowest item.
   */
  protected override _peek(): T {
    return this.#heap.peek() as T;
  }

  /**
   * The number of stored items.
   *
   * @returns The count.
   */
  protected override _qsize(): number {
    return this.#heap.size;
  }
}

/** The event `join()` waits on, described in run info. */
class AllDone extends Event {
  readonly #queue: object;
  constructor(queue: object) {
    super();
    this.#queue = queue;
  }
  override toString(): string {
    return `all tasks done of ${this.#queue}`;
  }
  /** `wait()` with options checked by the caller (as `join`). */
  waitChecked(options: BlockingOptions): Promise<boolean> {
    return this.waitReady(options, false) as Promise<boolean>;
  }
}

/**
 * A {@linkcode Queue} that counts unfinished tasks (gevent's
 * `JoinableQueue`): each item put adds one, each `taskDone()` removes one,
 * and `join()` waits until none is left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JoinableQueue, spawn } from "./mod.ts";
 * const q = new JoinableQueue<string>();
 * const done: string[] = [];
 * const worker = spawn(async () => {
 *   for await (const job of q) {
 *     done.push(job);
 *     q.taskDone();
 *   }
 * });
 * for (const job of ["a", "b"]) await q.put(job);
 * assert.equal(await q.join(), true);
 * assert.deepEqual(done, ["a", "b"]);
 * q.close();
 * await worker.join();
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  #unfinished = 0;
  readonly #allDone: AllDone;

  /**
   * Creates an empty joinable queue.
   *
   * @param maxsize The most items it holds; omitted: unbounded.
   */
  constructor(maxsize?: number) {
    super(maxsize);
    this.#allDone = new AllDone(this);
    this.#allDone.set();
  }

  /** Items put and not yet marked done with `taskDone()`. */
  get unfinishedTasks(): number {
    return this.#unfinished;
  }

  /**
   * Stores an item and counts it as an unfinished task.
   *
   * @param item The item.
   */
  protected override _put(item: T): void {
    super._put(item);
    this.#unfinished++;
    this.#allDone.clear();
  }

  /**
   * Marks one task taken from the queue as done; the last one wakes
   * `join()`.
   *
   * @throws {RangeError} When every task is already done.
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new RangeError(
        `Cannot mark a task done on ${this.constructor.name}: no task is unfinished (taskDone called more times than items were put)`,
      );
    }
    if (--this.#unfinished === 0) this.#allDone.set();
  }

  /**
   * Waits until every item put has been marked done (a switch point).
   *
   * @param options Milliseconds to wait at most, or `{ timeout, signal }`.
   * @returns `true` once all tasks are done; `false` if `timeout` passed.
   */
  join(options?: number | BlockingOptions): Promise<boolean> {
    return this.#allDone.waitChecked(
      waitOptions(`join ${this.constructor.name}`, options),
    );
  }
}

/**
 * A rendezvous (gevent's `Channel`, a queue of size 0): `put` waits until a
 * getter takes the item, `get` until a putter brings one. It holds no
 * items: `qsize()` is 0 and `full()` true; `putNowait` succeeds only when
 * a getter waits, `getNowait` only when a putter does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, spawn } from "./mod.ts";
 * const ch = new Channel<string>();
 * const log: string[] = [];
 * const putter = spawn(async () => {
 *   await ch.put("hello");
 *   log.push("taken");
 * });
 * log.push(`got ${await ch.get()}`);
 * await putter.join();
 * assert.deepEqual(log, ["got hello", "taken"]);
 * ```
 */
export class Channel<T = unknown> extends Queue<T> {
  /** Creates a rendezvous channel. */
  constructor() {
    super();
  }
}
