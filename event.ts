/**
 * Events (gevent's `gevent.event`): {@linkcode Event}, a flag greenlets wait
 * for, and {@linkcode AsyncResult}, a one-shot value or error. Both are
 * waitables: `wait([event])`, `iwait`, links. Waiters wake in the order they
 * waited, from the hub's run queue.
 *
 * @module
 */

import {
  BLOCKING_OPTIONS,
  checkOptions,
  checkSignal,
  checkTimeout,
  inspectAsString,
} from "./_util/mod.ts";
import { inspectCreated, noteCreation } from "./_core/mod.ts";
import { Linkable } from "./linkable.ts";
import { Timeout } from "./timeout.ts";

/**
 * Options of a blocking call: `timeout` in milliseconds (undefined waits
 * forever) and `signal` (aborting it rejects the wait with its reason).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BlockingOptions, Event } from "./mod.ts";
 * const options: BlockingOptions = { timeout: 5 };
 * assert.equal(await new Event().wait(options), false);
 * ```
 */
export interface BlockingOptions {
  /** Milliseconds to wait at most; undefined waits forever. */
  timeout?: number | undefined;
  /** Aborting it rejects the wait with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/**
 * Internal (for queue.ts, not re-exported): `wait(5)` or
 * `wait({ timeout: 5, signal })`, checked; the options to wait with.
 */
export function waitOptions(
  action: string,
  arg: number | BlockingOptions | undefined,
): BlockingOptions {
  if (arg === undefined) return NONE;
  if (typeof arg === "number") {
    checkTimeout(action, arg);
    return { timeout: arg };
  }
  checkOptions(action, arg, BLOCKING_OPTIONS);
  checkTimeout(action, arg.timeout);
  checkSignal(action, arg.signal);
  return arg;
}

const NONE: BlockingOptions = {};

/**
 * A flag that greenlets wait for (gevent's `Event`, like
 * `threading.Event`). `set()` wakes every greenlet waiting at that moment,
 * in the order they waited — even if `clear()` follows before they run: a
 * waiter learns that the flag was set at least once while it waited. A
 * `wait()` that finds the flag set while that wake-up is still under way
 * runs after those waiters (gevent issue 1520).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Event, joinAll, spawn } from "./mod.ts";
 * const ready = new Event();
 * const log: string[] = [];
 * const waiters = ["a", "b"].map((name) =>
 *   spawn(async () => {
 *     await ready.wait();
 *     log.push(name);
 *   })
 * );
 * spawn(() => {
 *   log.push("set");
 *   ready.set();
 * });
 * await joinAll(waiters);
 * assert.deepEqual(log, ["set", "a", "b"]);
 * ```
 */
export class Event extends Linkable {
  #flag = false;

  static {
    inspectAsString(this, inspectCreated);
  }

  /** Creates an event, its flag clear. */
  constructor() {
    super();
    noteCreation(this, new.target);
  }

  /**
   * `Event(set)` or `Event(clear)`: how its waits show in run info and
   * `LoopExit` messages.
   *
   * @returns The class name and the flag.
   */
  override toString(): string {
    return `Event(${this.#flag ? "set" : "clear"})`;
  }

  /**
   * Whether the flag is set.
   *
   * @returns The flag.
   */
  isSet(): boolean {
    return this.#flag;
  }

  /**
   * Whether the flag is set (the waitable's `ready()`).
   *
   * @returns The flag.
   */
  ready(): boolean {
    return this.#flag;
  }

  /**
   * Sets the flag and wakes every waiter, oldest first, from the hub's run
   * queue; until `clear()`, `wait()` returns at once.
   */
  set(): void {
    this.#flag = true;
    this.notifyLinks();
  }

  /**
   * Resets the flag: later `wait()` calls block until the next `set()`.
   * Greenlets already woken by a `set()` still wake.
   */
  clear(): void {
    this.#flag = false;
  }

  /**
   * Waits until the flag is set (a switch point).
   *
   * @param options Milliseconds to wait at most, or `{ timeout, signal }`.
   * @returns `true` once the flag was set; `false` if `timeout` passed
   * first (never throws for that).
   */
  wait(options?: number | BlockingOptions): Promise<boolean> {
    return this.waitReady(
      waitOptions("wait on Event", options),
      false,
    ) as Promise<boolean>;
  }

  /**
   * What a woken waiter resolves with: true, even if the flag was cleared
   * since.
   *
   * @returns true.
   */
  protected override waitResult(): unknown {
    return true;
  }

  /**
   * Wakes everyone registered when `set()` was called (gevent's
   * `_notify_all`).
   *
   * @returns true.
   */
  protected override get wakesAll(): boolean {
    return true;
  }
}

/** What {@linkcode AsyncResult.handleLink} reads from its source. */
export interface Outcome<T> {
  /** Whether it ended without an error. */
  successful(): boolean;
  /** Its value, when successful. */
  readonly value: T | unknown;
  /** Its error, when not. */
  readonly exception: unknown;
}

const PENDING = 0, VALUE = 1, ERROR = 2;

// A raising wait without a timeout: never called.
const neverTimesOut = (): unknown => undefined;

/**
 * A one-shot result: a value (`set`) or an error (`setException`) that
 * greenlets wait for (gevent's `AsyncResult`). `get()` returns the value or
 * throws the error; it is a link target, so `g.link(result)` forwards a
 * greenlet's outcome into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AsyncResult, spawn } from "./mod.ts";
 * const result = new AsyncResult<number>();
 * spawn(() => result.set(42));
 * assert.equal(await result.get(), 42);
 *
 * const forwarded = new AsyncResult<string>();
 * spawn(() => "from a greenlet").link(forwarded);
 * assert.equal(await forwarded.get(), "from a greenlet");
 * ```
 */
export class AsyncResult<T = unknown> extends Linkable {
  #state = PENDING;
  #value: T | undefined = undefined;
  #exception: unknown = undefined;

  static {
    inspectAsString(this, inspectCreated);
  }

  /** Creates an empty result (pending). */
  constructor() {
    super();
    noteCreation(this, new.target);
  }

  /**
   * `AsyncResult(pending)`, `AsyncResult(value)` or
   * `AsyncResult(exception)`: how its waits show in run info.
   *
   * @returns The class name and state.
   */
  override toString(): string {
    const s = this.#state;
    return `AsyncResult(${
      s === PENDING ? "pending" : s === VALUE ? "value" : "exception"
    })`;
  }

  /**
   * Whether a value or an error was set.
   *
   * @returns `true` once set.
   */
  ready(): boolean {
    return this.#state !== PENDING;
  }

  /**
   * Whether a value (not an error) was set.
   *
   * @returns `true` once set with a value.
   */
  successful(): boolean {
    return this.#state === VALUE;
  }

  /** The value, once set with one; else undefined. */
  get value(): T | undefined {
    return this.#value;
  }

  /** The error, once set with one; else undefined. */
  get exception(): unknown {
    return this.#exception;
  }

  /**
   * Stores `value` and wakes every waiter, oldest first. One-shot: a second
   * `set` or `setException` throws an `Error`.
   *
   * @param value The result.
   */
  set(value: T): void {
    this.#settle("set", VALUE, value);
  }

  /**
   * Stores `error`, which `get()` throws, and wakes every waiter. One-shot.
   *
   * @param error The error.
   */
  setException(error: unknown): void {
    this.#settle("setException on", ERROR, error);
  }

  #settle(action: string, state: number, v: unknown): void {
    if (this.#state !== PENDING) {
      throw new Error(
        `Cannot ${action} AsyncResult: it is one-shot and already holds ${
          this.#state === VALUE ? "a value" : "an exception"
        }`,
      );
    }
    this.#state = state;
    if (state === VALUE) this.#value = v as T;
    else this.#exception = v;
    this.notifyLinks();
  }

  /**
   * As a link target (`g.link(result)`): takes the outcome of `source` — a
   * greenlet or another AsyncResult — its value if it was successful, else
   * its exception.
   *
   * @param source What ended.
   */
  handleLink(source: Outcome<T>): void {
    if (source.successful()) this.set(source.value as T);
    else this.setException(source.exception);
  }

  /**
   * The value once set (a switch point); throws the error set with
   * `setException`, and `Timeout` if nothing was set within `timeout`.
   *
   * @param options `timeout` in milliseconds and `signal`.
   * @returns A promise of the value.
   */
  get(options?: BlockingOptions): Promise<T> {
    checkOptions("get AsyncResult", options, BLOCKING_OPTIONS);
    const o = options === undefined ? NONE : options;
    checkTimeout("get AsyncResult", o.timeout);
    checkSignal("get AsyncResult", o.signal);
    const timeout = o.timeout;
    return this.waitReady(
      o,
      undefined,
      timeout === undefined ? neverTimesOut : () => new Timeout(timeout),
    ) as Promise<T>;
  }

  /**
   * The value if set, without waiting: throws the error set with
   * `setException`, or `Timeout` if nothing is set yet (gevent's
   * `get_nowait`).
   *
   * @returns The value.
   */
  getNowait(): T {
    const s = this.#state;
    if (s === VALUE) return this.#value as T;
    if (s === ERROR) throw this.#exception;
    throw new Timeout(0);
  }

  /**
   * Waits until set (a switch point), without throwing the error.
   *
   * @param options Milliseconds to wait at most, or `{ timeout, signal }`.
   * @returns The value; undefined if an error was set or `timeout` passed.
   */
  wait(options?: number | BlockingOptions): Promise<T | undefined> {
    return this.waitReady(
      waitOptions("wait on AsyncResult", options),
      undefined,
    ) as Promise<T | undefined>;
  }

  /**
   * What a woken waiter resolves with: the value (undefined after an
   * error).
   *
   * @returns The value.
   */
  protected override waitResult(): unknown {
    return this.#value;
  }

  /**
   * Whether `get()` throws: an error was set.
   *
   * @returns Whether it holds an error.
   */
  protected override waitFailed(): boolean {
    return this.#state === ERROR;
  }

  /**
   * What `get()` throws.
   *
   * @returns The error set with `setException`.
   */
  protected override waitError(): unknown {
    return this.#exception;
  }

  /**
   * One-shot: once ready it stays ready; wake everyone registered.
   *
   * @returns true.
   */
  protected override get wakesAll(): boolean {
    return true;
  }
}
