/**
 * `Timeout`: an error that arms itself. Started in a greenlet, it is thrown
 * into that greenlet at its switch point once the time is up, bounding
 * whatever the greenlet was waiting for.
 *
 * @module
 */

import type { Timer } from "./_timer_heap.ts";
import { checkFunction, checkOptions, checkTimeout } from "./_checks.ts";
import { currentTask } from "./_context.ts";
import { retractPending, type Task, throwInto } from "./_waiter.ts";

let fire: (t: unknown) => void;

/**
 * A timer that, once started, throws an error into the greenlet that started
 * it at its switch point (the `await` of a hub-aware operation). The error is
 * `error` when given, else the `Timeout` itself. A greenlet may catch it and
 * go on. `Timeout` is `Disposable`, so `using` bounds a block:
 *
 * @example Bounding a block with `using`
 * ```ts
 * import { sleep, Timeout } from "./mod.ts";
 * try {
 *   using _t = Timeout.startNew(10);
 *   await sleep(1000);
 * } catch (e) {
 *   console.log(e instanceof Timeout); // true
 * }
 * ```
 */
export class Timeout extends Error {
  /** How long the timeout lasts, in milliseconds (undefined: never fires). */
  readonly ms: number | undefined;
  /** What is thrown when it fires; undefined means the Timeout itself. */
  readonly error: unknown;
  #timer: Timer | null = null;
  #target: Task | null = null;

  static {
    fire = (t) => (t as Timeout).#fire();
  }

  /**
   * Creates a Timeout; it does nothing until `start()`.
   *
   * @param ms Milliseconds until it fires once started; undefined never fires.
   * @param error Thrown instead of the Timeout itself when given.
   */
  constructor(ms?: number, error?: unknown) {
    checkTimeout("create Timeout", ms, "ms");
    super(ms === undefined ? "Timeout" : `${ms} ms`);
    this.name = "Timeout";
    this.ms = ms;
    this.error = error;
  }

  /**
   * Creates and starts a Timeout in the current greenlet.
   *
   * @param ms Milliseconds until it fires; undefined never fires.
   * @param error Thrown instead of the Timeout itself when given.
   * @returns The started Timeout.
   *
   * @example
   * ```ts
   * import { sleep, Timeout } from "./mod.ts";
   * const t = Timeout.startNew(50);
   * await sleep(1);
   * t.cancel();
   * console.log(t.pending); // false
   * ```
   */
  static startNew(ms?: number, error?: unknown): Timeout {
    return new Timeout(ms, error).start();
  }

  /** Whether the timer is armed (started, neither fired nor cancelled). */
  get pending(): boolean {
    return this.#timer !== null;
  }

  /**
   * Arms the timer for the current greenlet. Starting a Timeout that is
   * already pending throws an `Error`; cancel it first.
   *
   * @returns This Timeout.
   */
  start(): this {
    if (this.#timer !== null) {
      throw new Error(
        `Cannot start Timeout: it is already pending; cancel it first, received ${this.message}`,
      );
    }
    const task = currentTask();
    if (this.#target !== null) retractPending(this.#target, this);
    this.#target = task;
    if (this.ms === undefined || this.ms === Infinity) return this;
    this.#timer = task.core.addTimer(this.ms, fire, this);
    return this;
  }

  /**
   * Disarms the timer. If it had fired but not yet reached its greenlet
   * (which was awaiting something the hub does not own), the error is
   * withdrawn too.
   */
  cancel(): void {
    const task = this.#target;
    if (task === null) return;
    if (this.#timer !== null) {
      task.core.cancelTimer(this.#timer);
      this.#timer = null;
    }
    retractPending(task, this);
  }

  /** Cancels the timeout (for `using`). */
  [Symbol.dispose](): void {
    this.cancel();
  }

  #fire(): void {
    this.#timer = null;
    const task = this.#target;
    if (task === null) return;
    throwInto(task, this.error === undefined ? this : this.error, this);
  }
}

/**
 * Options for {@linkcode withTimeout}.
 *
 * @example
 * ```ts
 * import { sleep, withTimeout, type WithTimeoutOptions } from "./mod.ts";
 * const options: WithTimeoutOptions<null> = { timeoutValue: null };
 * console.log(await withTimeout(5, () => sleep(100), options)); // null
 * ```
 */
export interface WithTimeoutOptions<V> {
  /** Resolve with this value instead of rejecting with `Timeout`. */
  timeoutValue: V;
}

function isTimeoutOptions(v: unknown): v is WithTimeoutOptions<unknown> {
  return v !== null && typeof v === "object" &&
    Object.getPrototypeOf(v) === Object.prototype &&
    Object.hasOwn(v, "timeoutValue");
}

/**
 * Runs `fn(...args)` in the current greenlet, bounded by a {@linkcode Timeout}
 * of `ms` milliseconds. On timeout it rejects with the `Timeout`, or resolves
 * with `timeoutValue` when the single trailing argument is
 * `{ timeoutValue }` (a plain object with that own property; it is then not
 * passed to `fn`).
 *
 * @param ms Milliseconds before `fn` is interrupted at its switch point.
 * @param fn The function to run (may be async).
 * @param args Arguments for `fn`, or one `{ timeoutValue }` options object.
 * @returns What `fn` returns, or `timeoutValue` on timeout.
 *
 * @example
 * ```ts
 * import { sleep, withTimeout } from "./mod.ts";
 * const v = await withTimeout(10, () => sleep(1000), { timeoutValue: "late" });
 * console.log(v); // "late"
 * ```
 */
export function withTimeout<R, V>(
  ms: number,
  fn: () => R,
  options: WithTimeoutOptions<V>,
): Promise<Awaited<R> | V>;
/**
 * Runs `fn(...args)` bounded by a {@linkcode Timeout} of `ms` milliseconds;
 * rejects with the `Timeout` when it fires.
 *
 * @param ms Milliseconds before `fn` is interrupted at its switch point.
 * @param fn The function to run (may be async).
 * @param args Arguments for `fn`.
 * @returns What `fn` returns.
 */
export function withTimeout<A extends unknown[], R>(
  ms: number,
  fn: (...args: A) => R,
  ...args: A
): Promise<Awaited<R>>;
export function withTimeout(
  ms: number,
  fn: (...args: unknown[]) => unknown,
  ...args: unknown[]
): Promise<unknown> {
  if (typeof ms !== "number") {
    throw new TypeError(
      `Cannot run withTimeout: ms must be a number of milliseconds, received ${
        typeof ms === "function" ? "a function" : String(ms)
      }`,
    );
  }
  checkTimeout("run withTimeout", ms, "ms");
  checkFunction("run withTimeout", "fn", fn);
  let hasValue = false;
  let timeoutValue: unknown;
  if (args.length === 1 && isTimeoutOptions(args[0])) {
    checkOptions("run withTimeout", args[0]);
    hasValue = true;
    timeoutValue = args[0].timeoutValue;
    args = [];
  }
  return runWithTimeout(ms, fn, args, hasValue, timeoutValue);
}

async function runWithTimeout(
  ms: number,
  fn: (...args: unknown[]) => unknown,
  args: unknown[],
  hasValue: boolean,
  timeoutValue: unknown,
): Promise<unknown> {
  const t = Timeout.startNew(ms);
  try {
    return await fn(...args);
  } catch (e) {
    if (e === t && hasValue) return timeoutValue;
    throw e;
  } finally {
    t.cancel();
  }
}
