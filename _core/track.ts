/**
 * Owns tracked operations: an asynchronous operation the hub does not own
 * (a fetch, a file read) run as a switch point of the current greenlet.
 *
 * @module
 */

import { currentScope } from "./context.ts";
import { hubCoreOf } from "./hub_core.ts";
import { settle, waitOn } from "./waiter.ts";

class OpSource {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
  toString(): string {
    return this.what;
  }
}

/**
 * Runs `start()` as a switch point of the current greenlet: it shows in run
 * info as `what`, counts for `wait()`, and a kill or Timeout thrown into the
 * greenlet rejects it at once and calls `abort(reason)` to stop it.
 */
export function trackOp<T>(
  what: string,
  start: () => PromiseLike<T>,
  abort: (reason: unknown) => void,
): Promise<T> {
  const scope = currentScope();
  const task = scope.task;
  const w = waitOn(scope, new OpSource(what), { abort });
  if (!w.active) return w.promise as Promise<T>;
  let p: PromiseLike<T>;
  try {
    p = start();
  } catch (e) {
    settle(w, false, e);
    return w.promise as Promise<T>;
  }
  const quiet = hubCoreOf(task).quiet;
  quiet.noteOp(1);
  const done = (ok: boolean, value: unknown): void => {
    quiet.noteOp(-1);
    settle(w, ok, value);
  };
  Promise.resolve(p).then((v) => done(true, v), (e) => done(false, e));
  return w.promise as Promise<T>;
}
