/**
 * Cooperative locks: `Semaphore`, `BoundedSemaphore`, `RLock` and
 * `DummySemaphore`. Waiters are served in FIFO order, and a release while
 * greenlets wait hands the permit straight to the longest waiter, so no later
 * caller can barge in.
 *
 * @module
 */

import {
  checkBlocking,
  checkTimeout,
  describe,
  HOLDERS,
  inspectAsString,
} from "./_util/mod.ts";
import {
  currentScope,
  DEAD,
  greenletOf,
  inspectCreated,
  noteCreation,
  type Scope,
  settle,
  type Task,
  unhindered,
  WaiterList,
  waitOn,
} from "./_core/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import { Linkable } from "./linkable.ts";
import { Timeout } from "./timeout.ts";

/**
 * Options for `acquire()` and `hold()`: every wait takes both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AcquireOptions, Semaphore } from "./mod.ts";
 * const options: AcquireOptions = { timeout: 10, signal: new AbortController().signal };
 * assert.equal(await new Semaphore(0).acquire(options), false);
 * ```
 */
export interface AcquireOptions {
  /** Give up after this many milliseconds; undefined waits forever. */
  timeout?: number | undefined;
  /** Abort the wait; it rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);
const RESOLVED_FALSE: Promise<boolean> = Promise.resolve(false);

/**
 * Whether a wait in `scope` with `options` would not be interrupted at once
 * (no cancellation or pending error, no aborted signal): the fast paths.
 */
function free(scope: Scope, options: AcquireOptions | undefined): boolean {
  return options?.signal?.aborted !== true && unhindered(scope);
}

function checkValue(kind: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `Cannot create ${kind}: value must be an integer, received ${
        describe(value)
      }`,
    );
  }
  if (value < 0) {
    throw new RangeError(
      `Cannot create ${kind}: value must be ≥ 0, received ${value}`,
    );
  }
  return value;
}

/**
 * A counting semaphore (gevent's `Semaphore`). `acquire()` takes a permit,
 * waiting in FIFO order while none is left; `release()` gives one back,
 * straight to the longest waiter if there is one (hand-off, no barging).
 * A {@linkcode Waitable}: ready while a permit is free.
 *
 * @example Limiting concurrency to two
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, Semaphore, sleep, spawn } from "./mod.ts";
 * const sem = new Semaphore(2);
 * async function job(i: number) {
 *   using _permit = await sem.hold();
 *   await sleep(10);
 *   return i;
 * }
 * await joinAll([1, 2, 3, 4].map((i) => spawn(job, i)));
 * assert.equal(sem.counter, 2);
 * ```
 */
export class Semaphore extends Linkable {
  /** Permits left; 0 while greenlets wait. */
  counter: number;
  #waiters = new WaiterList();
  #options: AcquireWait;
  #holdOptions: AcquireWait;
  /**
   * The tasks that took permits not given back yet, oldest first (a release
   * by one of several gives its own back; by anyone else, the oldest): who
   * `LoopExit` says holds it. The oldest alone in `#holder` (no array on
   * the common path), the others in `#holders`.
   */
  #holder: Task | null = null;
  #holders: Task[] | null = null;

  static {
    inspectAsString(this, inspectCreated);
    Object.defineProperty(this.prototype, HOLDERS, {
      value(this: Semaphore): string | null {
        const h = this.#holder;
        return h === null
          ? null
          : describeHolders([h, ...(this.#holders ?? [])]);
      },
      writable: true,
      configurable: true,
    });
  }

  /**
   * Creates a semaphore with `value` permits.
   *
   * @param value The number of permits (an integer ≥ 0); defaults to 1.
   */
  constructor(value = 1) {
    super();
    this.counter = checkValue(new.target.name, value);
    this.#options = acquireWait(this.#waiters, undefined, false);
    this.#holdOptions = acquireWait(this.#waiters, undefined, true);
    noteCreation(this, new.target);
  }

  #took(task: Task): void {
    if (this.#holder === null) this.#holder = task;
    else (this.#holders ??= []).push(task);
  }

  #gave(): void {
    const more = this.#holders;
    if (more === null || more.length === 0) {
      this.#holder = null;
      return;
    }
    const me = currentScope().task;
    if (this.#holder === me) {
      this.#holder = more.shift()!;
      return;
    }
    const i = more.indexOf(me);
    if (i >= 0) more.splice(i, 1);
    else this.#holder = more.shift()!; // the oldest's
  }

  /**
   * `Semaphore(counter=1, waiters=0)`: how it shows in run info and
   * `LoopExit` messages.
   *
   * @returns The class name, counter and number of waiters.
   */
  override toString(): string {
    return `${this.constructor.name}(counter=${this.counter}, waiters=${this.#waiters.size})`;
  }

  /**
   * Whether a permit is free (gevent's `ready()`): `wait()`, `wait([sem])`
   * and links return then.
   *
   * @returns `counter > 0`.
   */
  ready(): boolean {
    return this.counter > 0;
  }

  /** Whether `acquire()` would wait now. */
  locked(): boolean {
    return this.counter <= 0 || this.#waiters.size !== 0;
  }

  /**
   * Takes a permit without waiting (gevent's `acquire(blocking=False)`).
   *
   * @returns Whether a permit was taken.
   */
  tryAcquire(): boolean {
    if (this.counter > 0 && this.#waiters.size === 0) {
      this.counter--;
      this.#took(currentScope().task);
      return true;
    }
    return false;
  }

  /**
   * Takes a permit, waiting in FIFO order while none is free. A switch
   * point: a kill or `Timeout` aimed at the caller is thrown here.
   *
   * @param options `timeout` in milliseconds (then it resolves `false`) and
   * `signal` (an abort rejects with `signal.reason`).
   * @returns `true` once a permit is held; `false` if `timeout` ran out.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options !== undefined) checkBlocking("acquire", this, options);
    return this.#acquire(options, false) as Promise<boolean>;
  }

  /** acquire() and hold(): `hold` resolves with a Permit, rejects on timeout. */
  #acquire(
    options: AcquireOptions | undefined,
    hold: boolean,
  ): Promise<unknown> {
    const scope = currentScope();
    if (this.counter > 0 && this.#waiters.size === 0) {
      if (free(scope, options)) {
        this.counter--;
        this.#took(scope.task);
        return hold ? Promise.resolve(new Permit(this)) : RESOLVED_TRUE;
      }
    } else if (options?.timeout === 0 && !hold && free(scope, options)) {
      return RESOLVED_FALSE; // a wait of 0 ms that nothing interrupts
    }
    const o = options === undefined
      ? (hold ? this.#holdOptions : this.#options)
      : acquireWait(this.#waiters, options, hold);
    return waitOn(scope, this, o).promise;
  }

  /**
   * Gives a permit back: to the longest waiter if any (it resumes from the
   * hub's run queue), else to the counter.
   */
  release(): void {
    this.#gave();
    const w = this.#waiters.shift();
    if (w !== null) {
      this.#took(w.task);
      settle(w, true, isHold(w.options) ? new Permit(this) : true);
      return;
    }
    this.counter++;
    this.notifyLinks();
  }

  /**
   * What `wait()` resolves with: the counter.
   *
   * @returns `counter`.
   */
  protected override waitResult(): unknown {
    return this.counter;
  }

  /**
   * Waits until a permit is free, without taking it (gevent's `wait`).
   *
   * @param timeout Milliseconds to wait at most; undefined waits forever.
   * @returns The counter once a permit is free, or 0 on timeout.
   */
  wait(timeout?: number): Promise<number> {
    checkTimeout(`wait on ${this.constructor.name}`, timeout);
    return this.waitReady({ timeout }, 0) as Promise<number>;
  }

  /**
   * Acquires a permit and returns a `Disposable` that releases it, for
   * `using _ = await sem.hold();`. Throws `Timeout` if `timeout` runs out.
   *
   * @param options `timeout` in milliseconds and `signal`, as `acquire`.
   * @returns A disposable whose disposal releases the permit (once).
   */
  hold(options?: AcquireOptions): Promise<Disposable> {
    if (options !== undefined) checkBlocking("hold", this, options);
    return this.#acquire(options, true) as Promise<Disposable>;
  }
}

/**
 * How a lock's waiter waits: on the lock's FIFO `waiters`; it resolves with
 * `true` (or, for `hold`, a {@linkcode Permit}) when `release()` hands it
 * the lock, and on timeout with `false` (or, for `hold`, rejects with
 * `Timeout`).
 */
interface AcquireWait {
  readonly list: WaiterList;
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly timeoutValue: false;
  readonly timeoutError: (() => unknown) | undefined;
}

function acquireWait(
  waiters: WaiterList,
  options: AcquireOptions | undefined,
  hold: boolean,
): AcquireWait {
  const timeout = options?.timeout;
  return {
    list: waiters,
    timeout,
    signal: options?.signal,
    timeoutValue: false,
    timeoutError: hold ? () => new Timeout(timeout) : undefined,
  };
}

/** How many holders `LoopExit` names. */
const HOLDERS_SHOWN = 4;

/** `held by <Greenlet "a" #1: a()> (dead), …`. */
function describeHolders(holders: readonly Task[]): string {
  const seen = new Set<Task>(holders);
  const names = [...seen].slice(0, HOLDERS_SHOWN).map((t) =>
    `${greenletOf(t)}${t.state === DEAD ? " (dead)" : ""}`
  );
  if (seen.size > HOLDERS_SHOWN) {
    names.push(`${seen.size - HOLDERS_SHOWN} more`);
  }
  return `held by ${names.join(", ")}`;
}

function isHold(o: object): boolean {
  return (o as AcquireWait).timeoutError !== undefined;
}

/** A held permit: disposing of it releases the lock once. */
class Permit implements Disposable {
  #lock: { release(): void } | null;
  constructor(lock: { release(): void }) {
    this.#lock = lock;
  }
  [Symbol.dispose](): void {
    const lock = this.#lock;
    if (lock === null) return;
    lock.release(); // a refused release (NotOwnerError) changes nothing
    this.#lock = null;
  }
}

/**
 * A {@linkcode Semaphore} that refuses to be released more times than it was
 * acquired: `release()` beyond the initial value throws `RangeError` and
 * changes nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BoundedSemaphore } from "./mod.ts";
 * const sem = new BoundedSemaphore(1);
 * assert.throws(() => sem.release(), { name: "RangeError", message: "Semaphore released too many times" });
 * assert.equal(sem.counter, 1);
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  /** The initial (and largest) number of permits. */
  readonly initialValue: number;

  /**
   * Creates a bounded semaphore with `value` permits.
   *
   * @param value The number of permits (an integer ≥ 0); defaults to 1.
   */
  constructor(value = 1) {
    super(value);
    this.initialValue = value;
  }

  /**
   * Gives a permit back.
   *
   * @throws {RangeError} "Semaphore released too many times" if every permit
   * is already free; nothing changes then.
   */
  override release(): void {
    if (this.counter >= this.initialValue) {
      throw new RangeError("Semaphore released too many times");
    }
    super.release();
  }
}

/**
 * Thrown when a lock is released by a greenlet that does not own it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NotOwnerError, RLock } from "./mod.ts";
 * assert.throws(() => new RLock().release(), NotOwnerError);
 * ```
 */
export class NotOwnerError extends Error {
  // private, behind getters: printed, the error shows its message and stack
  readonly #owner: Greenlet | null;
  readonly #caller: Greenlet;

  /**
   * Creates the error.
   *
   * @param owner The lock's owner (null if unowned).
   * @param caller The greenlet that tried to release it.
   */
  constructor(owner: Greenlet | null, caller: Greenlet) {
    super(
      `Cannot release RLock: it is ${
        owner === null ? "not held" : `held by ${owner}`
      }, released by ${caller}`,
    );
    this.name = "NotOwnerError";
    this.#owner = owner;
    this.#caller = caller;
  }

  /** The greenlet that owns the lock, or null if nobody does. */
  get owner(): Greenlet | null {
    return this.#owner;
  }

  /** The greenlet that tried to release it. */
  get caller(): Greenlet {
    return this.#caller;
  }
}

/**
 * A re-entrant lock owned by the greenlet that acquired it
 * ({@linkcode getCurrent}): the owner may acquire it again, and must release
 * it as many times. Code outside greenlets shares one owner, `hub.main`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RLock } from "./mod.ts";
 * const lock = new RLock();
 * await lock.acquire();
 * await lock.acquire(); // the owner re-enters
 * lock.release();
 * lock.release();
 * assert.equal(lock.locked(), false);
 * ```
 */
export class RLock extends Linkable {
  #owner: Task | null = null;
  #count = 0;
  #waiters = new WaiterList();

  static {
    inspectAsString(this, inspectCreated);
    Object.defineProperty(this.prototype, HOLDERS, {
      value(this: RLock): string | null {
        const t = this.#owner;
        return t !== null && t.state === DEAD ? "its owner has ended" : null;
      },
      writable: true,
      configurable: true,
    });
  }

  /** Creates an unlocked RLock. */
  constructor() {
    super();
    noteCreation(this, new.target);
  }

  /** The greenlet holding the lock, or null. */
  get owner(): Greenlet | null {
    const t = this.#owner;
    return t === null ? null : greenletOf(t) as Greenlet;
  }

  /**
   * `RLock(owner=…, depth=1, waiters=0)`: how it shows in run info and
   * `LoopExit` messages.
   *
   * @returns The owner, depth and number of waiters.
   */
  override toString(): string {
    return `RLock(owner=${
      this.owner ?? "none"
    }, depth=${this.#count}, waiters=${this.#waiters.size})`;
  }

  /** Whether the lock is held. */
  locked(): boolean {
    return this.#owner !== null;
  }

  /**
   * Whether nobody holds the lock (links and `wait([lock])` return then).
   *
   * @returns `!locked()`.
   */
  ready(): boolean {
    return this.#owner === null;
  }

  /**
   * Acquires the lock without waiting.
   *
   * @returns Whether the caller now holds it.
   */
  tryAcquire(): boolean {
    const me = currentScope().task;
    if (this.#owner === me) {
      this.#count++;
      return true;
    }
    if (this.#owner !== null || this.#waiters.size !== 0) return false;
    this.#owner = me;
    this.#count = 1;
    return true;
  }

  /**
   * Acquires the lock, waiting in FIFO order while another greenlet holds it.
   *
   * @param options `timeout` in milliseconds (then it resolves `false`) and
   * `signal`.
   * @returns `true` once held; `false` if `timeout` ran out.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    checkBlocking("acquire", this, options);
    return this.#acquire(options, false) as Promise<boolean>;
  }

  #acquire(
    options: AcquireOptions | undefined,
    hold: boolean,
  ): Promise<unknown> {
    const scope = currentScope();
    const me = scope.task;
    if (
      (this.#owner === me ||
        this.#owner === null && this.#waiters.size === 0) &&
      free(scope, options)
    ) {
      this.#owner = me;
      this.#count++;
      return hold ? Promise.resolve(new Permit(this)) : RESOLVED_TRUE;
    }
    if (options?.timeout === 0 && !hold && free(scope, options)) {
      return RESOLVED_FALSE; // a wait of 0 ms that nothing interrupts
    }
    return waitOn(scope, this, acquireWait(this.#waiters, options, hold))
      .promise;
  }

  /**
   * Releases one level of the lock; the last release hands it to the longest
   * waiter, if any.
   *
   * @throws {NotOwnerError} If the caller does not hold the lock.
   */
  release(): void {
    const me = currentScope().task;
    if (this.#owner !== me) {
      throw new NotOwnerError(
        this.owner,
        greenletOf(me) as Greenlet,
      );
    }
    if (--this.#count !== 0) return;
    const w = this.#waiters.shift();
    if (w === null) {
      this.#owner = null;
      this.notifyLinks();
      return;
    }
    this.#owner = w.task;
    this.#count = 1;
    settle(w, true, isHold(w.options) ? new Permit(this) : true);
  }

  /**
   * Acquires the lock and returns a `Disposable` that releases it. Throws
   * `Timeout` if `timeout` runs out.
   *
   * @param options `timeout` in milliseconds and `signal`, as `acquire`.
   * @returns A disposable whose disposal releases the lock (once).
   */
  hold(options?: AcquireOptions): Promise<Disposable> {
    checkBlocking("hold", this, options);
    return this.#acquire(options, true) as Promise<Disposable>;
  }
}

/**
 * A semaphore that never blocks: every acquire succeeds at once. Useful
 * where an API wants a lock but none is needed (gevent's `DummySemaphore`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DummySemaphore } from "./mod.ts";
 * const sem = new DummySemaphore();
 * assert.deepEqual([await sem.acquire(), await sem.acquire()], [true, true]);
 * ```
 */
export class DummySemaphore extends Linkable {
  /** Always `Infinity`. */
  readonly counter: number = Infinity;

  static {
    inspectAsString(this);
  }

  /**
   * `DummySemaphore()`: how it shows in messages and `console.log`.
   *
   * @returns The class name.
   */
  override toString(): string {
    return "DummySemaphore()";
  }

  /**
   * Always true: a permit is always free.
   *
   * @returns true
   */
  ready(): boolean {
    return true;
  }

  /** Always false. */
  locked(): boolean {
    return false;
  }

  /**
   * Always succeeds.
   *
   * @returns true
   */
  tryAcquire(): boolean {
    return true;
  }

  /**
   * Resolves `true` at once.
   *
   * @param options Accepted for compatibility (`timeout` ms, `signal`).
   * @returns A promise of `true`.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    checkBlocking("acquire", this, options);
    return RESOLVED_TRUE;
  }

  /** Does nothing. */
  release(): void {}

  /**
   * Resolves at once.
   *
   * @param timeout Accepted for compatibility (ms).
   * @returns A promise of `Infinity`.
   */
  wait(timeout?: number): Promise<number> {
    checkTimeout("wait on DummySemaphore", timeout);
    return Promise.resolve(Infinity);
  }

  /**
   * Resolves with a disposable that does nothing.
   *
   * @param options Accepted for compatibility (`timeout` ms, `signal`).
   * @returns A promise of a no-op disposable.
   */
  hold(options?: AcquireOptions): Promise<Disposable> {
    checkBlocking("hold", this, options);
    return Promise.resolve({ [Symbol.dispose]: () => {} });
  }
}
