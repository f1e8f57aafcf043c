/**
 * Cancel scopes a caller can hold. `cancellable(promise, onCancel?)` turns
 * any await the hub does not own into a switch point: a kill or a Timeout
 * reaches it at once, as it reaches `sleep` or a patched `fetch`.
 *
 * @module
 */

import { currentTask, hubCoreOf, trackOp } from "./_core/mod.ts";
import { checkFunction, describe } from "./_util/mod.ts";

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
