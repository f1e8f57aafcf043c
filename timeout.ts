/**
 * Bounding and cancelling: `Timeout` (gevent's, thrown once into the scope
 * that armed it), `withTimeout` (a child scope cancelled at its deadline),
 * `shield` (cleanup that must wait after a kill) and `getCurrentSignal`.
 *
 * @module
 */

import {
  als,
  closeScope,
  currentScope,
  retractPending,
  type Scope,
  scopeSignal,
  ShieldScope,
  throwInto,
  type Timer,
} from "./_core/mod.ts";
import { FAIL, runInScope, VALUE } from "./_cancel_scope.ts";
import {
  checkFunction,
  checkMs,
  checkOptions,
  checkTimeout,
  optionNames,
} from "./_util/mod.ts";

let fire: (t: unknown) => void;

/**
 * A timer that, once started, throws an error once into the scope that
 * started it — its greenlet, or the innermost `withTimeout`/`shield` — at
 * its switch point (the `await` of a hub-aware operation); if that scope is
 * in an await the hub does not own, at its next hub-aware wait, never
 * dropped. The error is `error` when given, else the `Timeout` itself. The
 * greenlet may catch it and go on (use `withTimeout` for a deadline that
 * cancels everything inside it). `Timeout` is `Disposable`, so `using`
 * bounds a block:
 *
 * @example Bounding a block with `using`
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, Timeout } from "./mod.ts";
 * await assert.rejects(async () => {
 *   using _t = Timeout.startNew(10);
 *   await sleep(1000);
 * }, Timeout);
 * ```
 */
export class Timeout extends Error {
  // private, behind getters: printed, a Timeout shows its message and stack
  readonly #ms: number | undefined;
  readonly #error: unknown;
  #timer: Timer | null = null;
  #target: Scope | null = null;

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
    this.#ms = ms;
    this.#error = error;
  }

  /** How long the timeout lasts, in milliseconds (undefined: never fires). */
  get ms(): number | undefined {
    return this.#ms;
  }

  /** What is thrown when it fires; undefined means the Timeout itself. */
  get error(): unknown {
    return this.#error;
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
   * import assert from "node:assert/strict";
   * import { sleep, Timeout } from "./mod.ts";
   * const t = Timeout.startNew(50);
   * await sleep(1);
   * t.cancel();
   * assert.equal(t.pending, false);
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
   * Arms the timer for the current scope. Starting a Timeout that is
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
    const scope = currentScope();
    if (this.#target !== null) retractPending(this.#target, this);
    this.#target = scope;
    if (this.ms === undefined || this.ms === Infinity) return this;
    this.#timer = scope.task.core.addTimer(this.ms, fire, this);
    return this;
  }

  /**
   * Disarms the timer. If it had fired but not yet reached its greenlet
   * (which was awaiting something the hub does not own), the error is
   * withdrawn too.
   */
  cancel(): void {
    const scope = this.#target;
    if (scope === null) return;
    if (this.#timer !== null) {
      scope.task.core.cancelTimer(this.#timer);
      this.#timer = null;
    }
    retractPending(scope, this);
  }

  /** Cancels the timeout (for `using`). */
  [Symbol.dispose](): void {
    this.cancel();
  }

  #fire(): void {
    this.#timer = null;
    const scope = this.#target;
    if (scope === null) return;
    throwInto(scope, this.error === undefined ? this : this.error, this, false);
  }
}

/**
 * Options for {@linkcode withTimeout}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, withTimeout, type WithTimeoutOptions } from "./mod.ts";
 * const options: WithTimeoutOptions<null> = { timeoutValue: null };
 * assert.equal(await withTimeout(5, () => sleep(100), options), null);
 * ```
 */
export interface WithTimeoutOptions<V> {
  /** Resolve with this value instead of rejecting with `Timeout`. */
  timeoutValue: V;
}

const WITH_TIMEOUT_OPTIONS = optionNames("timeoutValue");
const SHIELD_OPTIONS = optionNames("timeout");

function isTimeoutOptions(v: unknown): v is WithTimeoutOptions<unknown> {
  return v !== null && typeof v === "object" &&
    Object.getPrototypeOf(v) === Object.prototype &&
    Object.hasOwn(v, "timeoutValue");
}

/**
 * Runs `fn(...args)` in a child scope of the current greenlet, bounded by
 * `ms` milliseconds. At the deadline the scope is cancelled with a
 * {@linkcode Timeout}: every hub-aware wait inside it (and only inside it —
 * concurrent flows never receive it) rejects with it until `fn` ends, and
 * its `getCurrentSignal()` aborts. The scope ends when its body has:
 * `withTimeout` settles once `fn` has unwound — its `finally` blocks and
 * `shield`ed cleanup included — rejecting with the `Timeout` (or resolving
 * with `timeoutValue` when given `{ timeoutValue }`; another key in that
 * object is refused as a misspelt option) if `fn` ended by it. Completion
 * wins: if `fn` returns a value, even after the deadline, that value is
 * returned. Only a body sitting in an await the hub does not own at (or
 * after) the deadline cannot be unwound: it is detached — `withTimeout`
 * settles then, and the flow stays cancelled at its next hub-aware wait
 * (run info shows its waits `inside withTimeout(…, detached at its
 * deadline)`). A kill of the caller reaches the waits inside `fn` too; a
 * caller already cancelled never runs `fn`. For a handle on the scope —
 * which of nested deadlines fired, a deadline the body moves, `cancel()` —
 * use `moveOnAfter` / `failAfter` (scope.ts), the same scopes.
 *
 * Which form a call is, is unambiguous: the trailing `{ timeoutValue }` (a
 * plain object with that own property) is the options object only when
 * `fn` declares no parameter (`fn.length === 0`, as `() => …`); to a
 * function that declares one, every trailing argument is passed — so a
 * function taking an object with a `timeoutValue` field gets it. (To pass
 * such an object to a function whose only parameter is optional, wrap the
 * call: `withTimeout(ms, () => fn(obj))`.)
 *
 * @param ms Milliseconds before `fn` is interrupted at its switch point.
 * @param fn The function to run (may be async).
 * @param args Arguments for `fn`, or one `{ timeoutValue }` options object.
 * @returns What `fn` returns, or `timeoutValue` on timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, withTimeout } from "./mod.ts";
 * const v = await withTimeout(10, () => sleep(1000), { timeoutValue: "late" });
 * assert.equal(v, "late");
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
  checkMs("run withTimeout", ms);
  checkFunction("run withTimeout", "fn", fn);
  let hasValue = false;
  let timeoutValue: unknown;
  if (args.length === 1 && fn.length === 0 && isTimeoutOptions(args[0])) {
    checkOptions("run withTimeout", args[0], WITH_TIMEOUT_OPTIONS);
    hasValue = true;
    timeoutValue = args[0].timeoutValue;
    args = [];
  }
  return runInScope(
    "withTimeout",
    ms,
    new Timeout(ms),
    hasValue ? VALUE : FAIL,
    timeoutValue,
    false,
    fn,
    args,
    null,
  );
}

/**
 * Options for {@linkcode shield}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shield, type ShieldOptions } from "./mod.ts";
 * const options: ShieldOptions = { timeout: 100 };
 * assert.equal(await shield(() => "cleaned up", options), "cleaned up");
 * ```
 */
export interface ShieldOptions {
  /** Bound the shielded code: a `withTimeout` of this many milliseconds. */
  timeout?: number | undefined;
}

/**
 * Runs `fn()` in the current greenlet where waits work even though the
 * greenlet was killed or its `withTimeout` expired (Trio's shielded cancel
 * scope): cleanup that must wait — closing a connection, flushing a queue —
 * goes here. `timeout` (ms) bounds it like `withTimeout`. Once it returns,
 * the cancellation outside applies again at the next switch point.
 *
 * @param fn The cleanup to run (may be async).
 * @param options `timeout` in milliseconds.
 * @returns What `fn` returns.
 *
 * @example Cleanup after a kill
 * ```ts
 * import assert from "node:assert/strict";
 * import { shield, sleep, spawn } from "./mod.ts";
 * const log: string[] = [];
 * const g = spawn(async () => {
 *   try {
 *     await sleep(10_000);
 *   } finally {
 *     await shield(async () => {
 *       await sleep(5); // would throw GreenletExit outside the shield
 *       log.push("flushed");
 *     }, { timeout: 100 });
 *   }
 * });
 * await sleep(0);
 * await g.kill();
 * assert.deepEqual(log, ["flushed"]);
 * ```
 */
export function shield<R>(
  fn: () => R,
  options?: ShieldOptions,
): Promise<Awaited<R>> {
  checkFunction("shield", "fn", fn);
  checkOptions("shield", options, SHIELD_OPTIONS);
  const timeout = options?.timeout;
  checkTimeout("shield", timeout);
  const outer = currentScope();
  const scope = new ShieldScope(outer.task, outer);
  if (timeout === undefined || timeout === Infinity) {
    let r: unknown;
    try {
      r = als.run(scope, fn);
    } catch (e) {
      closeScope(scope);
      return Promise.reject(e);
    }
    return Promise.resolve(r).finally(() => closeScope(scope)) as Promise<
      Awaited<R>
    >;
  }
  // bounded like withTimeout, in a scope that outer cancellation misses
  return als.run(
    scope,
    runInScope,
    "withTimeout",
    timeout,
    new Timeout(timeout),
    FAIL,
    undefined,
    false,
    fn as (...a: unknown[]) => unknown,
    [],
    null,
  ).finally(() => closeScope(scope)) as Promise<Awaited<R>>;
}

/**
 * The AbortSignal of the innermost scope: aborted, with the error as its
 * reason, when the current greenlet is killed or the enclosing
 * `withTimeout` reaches its deadline (not by a one-shot `Timeout`). Pass it
 * to your own drivers so they stop at once; patched operations use it.
 *
 * @returns The current scope's signal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getCurrentSignal, withTimeout } from "./mod.ts";
 * const reason = await withTimeout(10, () =>
 *   new Promise((resolve) =>
 *     getCurrentSignal().addEventListener("abort", (e) =>
 *       resolve(((e.target as AbortSignal).reason as Error).name))
 *   ), { timeoutValue: "late" });
 * // the body saw the abort and returned: completion wins over the deadline
 * assert.equal(reason, "Timeout");
 * ```
 */
export function getCurrentSignal(): AbortSignal {
  return scopeSignal(currentScope());
}
