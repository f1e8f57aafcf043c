/**
 * Greenlet-local state (gevent's `gevent.local`): {@linkcode local} makes an
 * object whose `value` each greenlet sees on its own.
 *
 * @module
 */

import { checkFunction } from "./_util/mod.ts";
import { currentTask, subscribe, type Task } from "./_core/mod.ts";

// Each greenlet's values, dropped when it ends (through the hooks bus,
// subscribed when the first local is made).
const perTask = new WeakMap<Task, Map<Local<unknown>, unknown>>();
let watching = false;

/** `task`'s values, made on first use. */
function valuesOf(task: Task): Map<Local<unknown>, unknown> {
  let values = perTask.get(task);
  if (values === undefined) perTask.set(task, values = new Map());
  return values;
}

function watchEnds(): void {
  if (watching) return;
  watching = true;
  subscribe({ finish: (task) => void perTask.delete(task) });
}

/**
 * A value per greenlet: see {@linkcode local}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Local, local } from "./mod.ts";
 * const user: Local<string> = local(() => "anonymous");
 * assert.equal(user.value, "anonymous");
 * ```
 */
export class Local<T> {
  readonly #init: (() => T) | undefined;

  /**
   * Prefer {@linkcode local}.
   *
   * @param init Makes a greenlet's first value (else undefined).
   */
  constructor(init?: () => T) {
    if (init !== undefined) checkFunction("create local", "init", init);
    this.#init = init;
    watchEnds();
  }

  /**
   * The running greenlet's value (code outside greenlets has one of its
   * own); made by `init()` on a greenlet's first read.
   */
  get value(): T {
    const values = valuesOf(currentTask());
    if (values.has(this as Local<unknown>)) {
      return values.get(this as Local<unknown>) as T;
    }
    const v = this.#init === undefined ? undefined as T : this.#init();
    values.set(this as Local<unknown>, v);
    return v;
  }
  set value(v: T) {
    valuesOf(currentTask()).set(this as Local<unknown>, v);
  }
}

/**
 * Makes greenlet-local state (gevent's `local`): each greenlet reads and
 * writes its own `value`, starting from `init()` (or undefined); a greenlet
 * does not inherit its parent's, and a greenlet's values are dropped when
 * it ends.
 *
 * @param init Makes each greenlet's first value.
 * @returns The local.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, local, sleep, spawn } from "./mod.ts";
 * const requestId = local<number>(() => 0);
 * const seen: string[] = [];
 * const handle = async (id: number) => {
 *   requestId.value = id;
 *   await sleep(0); // the other greenlet runs and sets its own
 *   seen.push(`${id} sees ${requestId.value}`);
 * };
 * await joinAll([spawn(handle, 1), spawn(handle, 2)]);
 * assert.deepEqual(seen, ["1 sees 1", "2 sees 2"]);
 * assert.equal(requestId.value, 0); // outside greenlets: its own
 * ```
 */
export function local<T>(init?: () => T): Local<T> {
  return new Local(init);
}
