/**
 * Cancel scopes a caller can hold (Trio's model): `moveOnAfter` and
 * `failAfter` run a body in a {@linkcode CancelScope} — a deadline it can
 * move, `cancel()`, and `cancelledCaught` to tell which scope fired.
 * `cancellable(promise, onCancel?)` turns any await the hub does not own
 * into a switch point: a kill or a Timeout reaches it at once, as it
 * reaches `sleep` or a patched `fetch`.
 *
 * @module
 */

import { type BodyScope, FAIL, MOVE_ON, runInScope } from "./_cancel_scope.ts";
import { currentTask, hubCoreOf, scopeSignal, trackOp } from "./_core/mod.ts";
import {
  checkFunction,
  checkMs,
  checkOptions,
  describe,
  optionNames,
} from "./_util/mod.ts";
import { Timeout } from "./timeout.ts";

let makeHandle: (scope: BodyScope) => CancelScope;

/**
 * The handle of a `moveOnAfter` / `failAfter` scope, passed to its body:
 * Trio's `CancelScope`. Cancelling it (its deadline passing, or
 * `cancel()`) is level-triggered — every hub-aware wait inside the body
 * rejects, and its `signal` aborts, until the body ends — and completion
 * wins: a body that returns a value after its cancellation returns it.
 * Nested scopes: the scope whose cancellation the body ends with catches
 * it (`cancelledCaught`), unless a scope around it was cancelled too — then
 * that outer cancellation passes through the inner scope without marking
 * it caught (the outermost cancelled scope catches, as in Trio).
 *
 * @example Which of two nested deadlines fired
 * ```ts
 * import assert from "node:assert/strict";
 * import { moveOnAfter, sleep } from "./mod.ts";
 * let inner = null as null | { cancelledCaught: boolean };
 * const outer = { caught: false };
 * await moveOnAfter(1000, async (o) => {
 *   await moveOnAfter(10, async (i) => {
 *     inner = i;
 *     await sleep(500);
 *   });
 *   outer.caught = o.cancelledCaught; // still running: not caught (yet)
 * });
 * assert.equal(inner!.cancelledCaught, true);
 * assert.equal(outer.caught, false);
 * ```
 */
export class CancelScope {
  readonly #scope: BodyScope;

  static {
    makeHandle = (scope) => new CancelScope(scope);
  }

  private constructor(scope: BodyScope) {
    this.#scope = scope;
  }

  /**
   * The deadline, in hub-clock milliseconds (`getHub().now()`; Infinity:
   * none). Settable while the body runs — later or earlier, re-arming the
   * timer; a deadline already past cancels the scope at once (in the
   * hub's next timer pass). Once the scope is cancelled or ended, setting
   * it only records the value.
   *
   * @example Pushing the deadline out while the body works
   * ```ts
   * import assert from "node:assert/strict";
   * import { moveOnAfter, sleep } from "./mod.ts";
   * const r = await moveOnAfter(20, async (scope) => {
   *   scope.deadline += 100; // this step needs longer
   *   await sleep(40);
   *   return "done";
   * });
   * assert.equal(r, "done");
   * ```
   */
  get deadline(): number {
    return this.#scope.deadline;
  }

  set deadline(deadline: number) {
    if (typeof deadline !== "number" || Number.isNaN(deadline)) {
      throw new TypeError(
        `Cannot set deadline: deadline must be a number of hub-clock milliseconds, received ${
          describe(deadline)
        }`,
      );
    }
    this.#scope.deadline = deadline;
  }

  /**
   * Cancels the scope (from its body or from another greenlet): every
   * hub-aware wait in the body rejects, with `reason` when given (else the
   * scope's `Timeout`), until the body ends; `signal` aborts with it. A
   * second call does nothing.
   *
   * @param reason What the body's waits reject with and the signal's reason.
   *
   * @example Cancelled from another greenlet
   * ```ts
   * import assert from "node:assert/strict";
   * import { type CancelScope, moveOnAfter, sleep, spawn } from "./mod.ts";
   * let handle: CancelScope | undefined;
   * const stopper = spawn(async () => {
   *   await sleep(10);
   *   handle!.cancel();
   * });
   * const r = await moveOnAfter(Infinity, async (scope) => {
   *   handle = scope;
   *   await sleep(10_000);
   *   return "slept";
   * });
   * await stopper.join();
   * assert.equal(r, undefined);
   * assert.equal(handle!.cancelledCaught, true);
   * ```
   */
  cancel(reason?: unknown): void {
    this.#scope.cancel(reason);
  }

  /**
   * Whether the scope was cancelled — its deadline passed or `cancel()` was
   * called — whether or not the body noticed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { moveOnAfter } from "./mod.ts";
   * await moveOnAfter(Infinity, (scope) => {
   *   scope.cancel();
   *   assert.equal(scope.cancelCalled, true);
   * });
   * ```
   */
  get cancelCalled(): boolean {
    return this.#scope.cancelCalled;
  }

  /**
   * Whether the scope ended because *it* was cancelled: its body ended by
   * the scope's cancellation (or was detached by it). False while the body
   * runs, after a body that returned anyway (completion wins), and when an
   * outer scope's cancellation passed through.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { type CancelScope, moveOnAfter, sleep } from "./mod.ts";
   * let s: CancelScope | undefined;
   * await moveOnAfter(10, async (scope) => {
   *   s = scope;
   *   await sleep(100);
   * });
   * assert.equal(s!.cancelledCaught, true);
   * ```
   */
  get cancelledCaught(): boolean {
    return this.#scope.caught;
  }

  /**
   * Whether cancellation from outside (a kill, an outer scope) stops at this
   * scope (the `{ shield: true }` option); its own deadline and `cancel()`
   * still reach the body.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { moveOnAfter } from "./mod.ts";
   * await moveOnAfter(10, (s) => assert.equal(s.shield, true), { shield: true });
   * ```
   */
  get shield(): boolean {
    return this.#scope.shielded;
  }

  /**
   * The scope's `AbortSignal`: aborted when the scope (or a scope around it,
   * unless shielded) is cancelled. Pass it to drivers the hub does not own.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { moveOnAfter } from "./mod.ts";
   * await moveOnAfter(Infinity, (scope) => {
   *   scope.cancel(new Error("enough"));
   *   assert.equal((scope.signal.reason as Error).message, "enough");
   * });
   * ```
   */
  get signal(): AbortSignal {
    return scopeSignal(this.#scope);
  }
}

/**
 * Options for {@linkcode moveOnAfter} and {@linkcode failAfter}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CancelScopeOptions, moveOnAfter } from "./mod.ts";
 * const options: CancelScopeOptions = { shield: true };
 * assert.equal(await moveOnAfter(10, () => "ok", options), "ok");
 * ```
 */
export interface CancelScopeOptions {
  /** Outer cancellation (a kill, an outer scope) does not reach the body. */
  shield?: boolean | undefined;
}

const SCOPE_OPTIONS = optionNames("shield");

function checkScopeCall(
  action: string,
  ms: unknown,
  fn: unknown,
  options: CancelScopeOptions | undefined,
): boolean {
  checkMs(action, ms);
  checkFunction(action, "fn", fn);
  checkOptions(action, options, SCOPE_OPTIONS);
  const shield = options?.shield;
  if (shield !== undefined && typeof shield !== "boolean") {
    throw new TypeError(
      `Cannot ${action}: shield must be a boolean, received ${
        describe(shield)
      }`,
    );
  }
  return shield === true;
}

/**
 * Runs `fn(scope)` in a new {@linkcode CancelScope} of the current greenlet
 * (Trio's `move_on_after`), cancelled `ms` milliseconds from now (`Infinity`:
 * only by `scope.cancel()`). Resolves with what `fn` returns, or with
 * `undefined` once the scope's own cancellation ended the body —
 * `scope.cancelledCaught` then tells. The same rules as `withTimeout`:
 * level-triggered, completion wins, it settles once the body has unwound
 * (a body away in an await the hub does not own when cancelled is
 * detached, as there). Any other error — a kill, an outer scope's
 * cancellation — rejects it.
 *
 * @param ms Milliseconds until the scope is cancelled; may be Infinity.
 * @param fn The body (may be async); gets the scope's handle.
 * @param options `shield`: outer cancellation does not reach the body.
 * @returns `fn`'s result, or undefined if the scope was cancelled.
 * @throws {TypeError} At once, for a non-numeric `ms`, a `fn` that is not a
 * function, or unknown options.
 * @throws {RangeError} At once, for a negative `ms`.
 *
 * @example A retry policy's attempt, bounded
 * ```ts
 * import assert from "node:assert/strict";
 * import { moveOnAfter, sleep } from "./mod.ts";
 * const log: string[] = [];
 * for (const ms of [10, 100]) {
 *   const r = await moveOnAfter(ms, async (scope) => {
 *     await sleep(50); // the attempt
 *     return "answer";
 *   });
 *   log.push(r ?? "timed out");
 * }
 * assert.deepEqual(log, ["timed out", "answer"]);
 * ```
 */
export function moveOnAfter<R>(
  ms: number,
  fn: (scope: CancelScope) => R,
  options?: CancelScopeOptions,
): Promise<Awaited<R> | undefined> {
  const shield = checkScopeCall("run moveOnAfter", ms, fn, options);
  return runInScope(
    "moveOnAfter",
    ms,
    new Timeout(ms),
    MOVE_ON,
    undefined,
    shield,
    fn as (...args: unknown[]) => unknown,
    null,
    makeHandle,
  ) as Promise<Awaited<R> | undefined>;
}

/**
 * Runs `fn(scope)` like {@linkcode moveOnAfter} (Trio's `fail_after`), but
 * when the scope's own cancellation ends the body it rejects with the
 * scope's {@linkcode Timeout} (`ms` its duration) instead of resolving.
 *
 * @param ms Milliseconds until the scope is cancelled; may be Infinity.
 * @param fn The body (may be async); gets the scope's handle.
 * @param options `shield`: outer cancellation does not reach the body.
 * @returns `fn`'s result.
 * @throws {TypeError} At once, as `moveOnAfter`.
 * @throws {RangeError} At once, for a negative `ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failAfter, sleep, Timeout } from "./mod.ts";
 * await assert.rejects(
 *   failAfter(10, () => sleep(1000)),
 *   (e) => e instanceof Timeout && e.ms === 10,
 * );
 * ```
 */
export function failAfter<R>(
  ms: number,
  fn: (scope: CancelScope) => R,
  options?: CancelScopeOptions,
): Promise<Awaited<R>> {
  const shield = checkScopeCall("run failAfter", ms, fn, options);
  return runInScope(
    "failAfter",
    ms,
    new Timeout(ms),
    FAIL,
    undefined,
    shield,
    fn as (...args: unknown[]) => unknown,
    null,
    makeHandle,
  ) as Promise<Awaited<R>>;
}

function ignore(): void {}

/**
 * Awaits `promise` as a switch point of the current greenlet (or of the
 * current `withTimeout` scope): a kill or a Timeout delivered meanwhile
 * rejects the wait at once with its error and calls `onCancel(reason)` —
 * to close the socket, abort the request, kill the process the promise is
 * waiting for — and the promise's later outcome is ignored (a later
 * rejection is never unhandled). A promise that settled first wins over a
 * later cancellation (its result is returned; the kill lands at the next
 * switch point). In a scope that is cancelled already, the wait rejects at
 * once and `onCancel` is called too (before the rejection is seen). Run info shows the
 * greenlet waiting on `cancellable`; `wait()` counts it.
 *
 * Without it, a greenlet killed while it awaits a promise the hub does not
 * own (a hand-written driver, a library's own promise) is cancelled only
 * once that await returns (Cancellation rule 2). If `onCancel` throws, its
 * error is reported to `hub.handleError` as the greenlet's; the wait still
 * rejects with the kill's or the Timeout's error.
 *
 * @param promise What to await: a promise or any thenable.
 * @param onCancel Called once, with the kill's error or the Timeout, when
 * the wait is cancelled before `promise` settled.
 * @returns `promise`'s result, or a rejection with the cancellation.
 * @throws {TypeError} At once, if `promise` is not a thenable or `onCancel`
 * is not a function.
 *
 * @example A driver's raw promise, stopped by a kill
 * ```ts
 * import assert from "node:assert/strict";
 * import { cancellable, GreenletExit, sleep, spawn } from "./mod.ts";
 * const log: string[] = [];
 * const g = spawn(async () => {
 *   const never = new Promise<string>(() => {}); // a driver that never answers
 *   await cancellable(never, (reason) => {
 *     log.push(`closing the connection: ${(reason as Error).name}`);
 *   });
 * });
 * await sleep(10);
 * await g.kill();
 * assert.ok(g.value instanceof GreenletExit);
 * assert.deepEqual(log, ["closing the connection: GreenletExit"]);
 * ```
 *
 * @example Bounded by `withTimeout` (milliseconds)
 * ```ts
 * import assert from "node:assert/strict";
 * import { cancellable, Timeout, withTimeout } from "./mod.ts";
 * const slow = new Promise((r) => setTimeout(r, 100, "late"));
 * const stop = new AbortController();
 * await assert.rejects(
 *   withTimeout(20, () => cancellable(slow, () => stop.abort())),
 *   Timeout,
 * );
 * assert.equal(stop.signal.aborted, true);
 * await slow; // (only so that the example leaves no timer behind)
 * ```
 */
export function cancellable<T>(
  promise: PromiseLike<T>,
  onCancel?: (reason: unknown) => void,
): Promise<T> {
  if (
    promise === null ||
    (typeof promise !== "object" && typeof promise !== "function") ||
    typeof (promise as { then?: unknown }).then !== "function"
  ) {
    throw new TypeError(
      `Cannot await cancellable: promise must be a promise or thenable, received ${
        describe(promise)
      }`,
    );
  }
  if (onCancel !== undefined) {
    checkFunction("await cancellable", "onCancel", onCancel);
  }
  let started = false;
  const p = trackOp(
    "cancellable",
    () => {
      started = true;
      return promise;
    },
    onCancel === undefined ? ignore : onCancel,
  );
  if (!started) {
    // the scope was cancelled already: the promise is ours to let go of
    Promise.resolve(promise).then(ignore, ignore);
    if (onCancel !== undefined) {
      const task = currentTask();
      p.then(undefined, (reason) => {
        try {
          onCancel(reason);
        } catch (e) {
          hubCoreOf(task).reportError(task, e);
        }
      });
    }
  }
  return p;
}
