/**
 * Owns delivery, the one place an error is thrown into a greenlet: a kill or
 * a deadline cancels a scope (level-triggered), a `Timeout` sends it a
 * one-shot error; the waits it reaches reject and their operations are
 * aborted, a `sleep(0)` still queued there rejects too.
 *
 * @module
 */

import { actFor } from "./hooks.ts";
import { Pending, Scope, taken, type Task } from "./scope.ts";
import { abortScope } from "./signals.ts";
import { settle, type Waiter } from "./waiter.ts";

/** A thenable that rejects whatever adopts it with `error`. */
class Rejecting {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
  then(_: unknown, reject: (e: unknown) => void): void {
    reject(this.error);
  }
}

function rejectYield(resume: (v: unknown) => void, error: unknown): void {
  resume(new Rejecting(error));
}

/** Whether an error thrown into `target` reaches a wait started in `scope`. */
export function reaches(target: Scope, scope: Scope): boolean {
  for (let s: Scope | null = scope; s !== null; s = s.outer) {
    if (s === target) return true;
    if (s.shielded) return false;
  }
  return false;
}

/**
 * Throws `error` into `target` at its switch points: the active waits of
 * its task that it reaches reject at once (through the run queue) and their
 * operations are aborted; a `sleep(0)` still queued there rejects too.
 * `cancel` (a kill, a withTimeout deadline) is level-triggered: the scope
 * stays cancelled, its signal aborts, and every later wait in it rejects
 * with the same error. Otherwise (a `Timeout`, `source`) the error is thrown
 * once: if nothing waits now, at the scope's next wait. With `later` (a
 * kill, by that task) the active waits reject in the run queue's order,
 * after what was queued before: a wait completed meanwhile returns its
 * result (gevent's `kill` is a callback of the loop too).
 */
export function throwInto(
  target: Scope,
  error: unknown,
  source: unknown,
  cancel: boolean,
  later: Task | null = null,
): void {
  const task = target.task;
  let stop: Pending | null = null;
  if (cancel) {
    const was = target.stop;
    stop = new Pending(error, source, true);
    if (was !== null && was.level) {
      // a second kill: its error is thrown after the first one's
      if (was.delivered === 0) {
        let last = was;
        while (last.next !== null) last = last.next;
        last.next = stop;
        return;
      }
      target.stop = stop;
      stop.previous = was;
      stop.delivered = was.delivered;
    } else target.stop = stop;
    abortScope(target, error);
  }
  let delivered = false;
  if (later !== null) {
    // the operations it aborts (patched ones) end now; plain waits in turn
    deliver(target, error, stop, true);
    task.core.schedule(deliverLater, target, later);
    // away in an await the hub does not own: if it returns first, it still
    // ends killed (a kill that came while it ran on leaves its outcome)
    if (stop !== null && target === task && task.away) stop.whileAway = true;
  } else delivered = deliver(target, error, stop, false);
  if (
    task.core.redirectYield(
      task.yieldSlot,
      (scope) => scope instanceof Scope && reaches(target, scope),
      rejectYield,
      error,
    )
  ) {
    if (stop !== null) taken(target, stop);
    delivered = true;
  }
  if (!cancel && !delivered && target.stop === null) {
    target.stop = new Pending(error, source, false);
  }
}

/**
 * Rejects the active waits of `target`'s task that an error thrown into
 * `target` reaches — only those of operations it aborts (a teardown) when
 * `aborting` — and aborts their operations; returns whether any.
 */
function deliver(
  target: Scope,
  error: unknown,
  stop: Pending | null,
  aborting: boolean,
): boolean {
  const task = target.task;
  let delivered = false;
  let w = task.waits;
  while (w !== null) {
    const next: Waiter | null = w.gnext;
    const abort = w.options.abort;
    if ((!aborting || abort !== undefined) && reaches(target, w.scope)) {
      settle(w, false, error);
      if (stop !== null) taken(target, stop);
      delivered = true;
      if (abort !== undefined) {
        try {
          abort(error);
        } catch (e) {
          task.core.reportError(task, e);
        }
      }
    }
    w = next;
  }
  return delivered;
}

/**
 * From the run queue: a kill reaches the waits of its target in its turn,
 * after what was queued before it — a wait that a `set()` or `release()`
 * just completed returns its result (completion wins), as in gevent.
 */
function deliverLater(target: Scope, by: Task): void {
  const stop = target.stop;
  if (stop !== null && stop.level) actFor(by, deliverStop, target, stop);
}

function deliverStop(target: Scope, stop: Pending): void {
  deliver(target, stop.error, stop, false);
}

/** Withdraws a one-shot error thrown by `source` that has not reached `scope` yet. */
export function retractPending(scope: Scope, source: unknown): void {
  const p = scope.stop;
  if (p !== null && !p.level && p.source === source) scope.stop = null;
}

/**
 * Whether `e`, thrown out of a cancelled scope or greenlet, is that
 * cancellation: an error for which `is` holds, one caused by it (its
 * `cause` chain), or the `AbortError` of an operation it aborted.
 */
export function isCancellation(
  e: unknown,
  is: (error: unknown) => boolean,
): boolean {
  for (let i = 0; i < 16 && e !== null && typeof e === "object"; i++) {
    if (is(e) || (e as { name?: unknown }).name === "AbortError") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return is(e);
}
