/**
 * `wait()` and `iwait()`: waiting for any waitables — greenlets, locks, your
 * own {@linkcode Linkable}s — to become ready, or for the hub to go quiet.
 *
 * @module
 */

import {
  checkCount,
  checkOptions,
  checkTimeout,
  describe,
  optionNames,
} from "./_util/mod.ts";
import {
  currentScope,
  hubCoreOf,
  settleNow,
  WaiterList,
  waitOn,
} from "./_core/mod.ts";
import type { Waitable } from "./linkable.ts";

/**
 * Options for {@linkcode wait} and {@linkcode iwait}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, wait, type WaitObjectsOptions } from "./mod.ts";
 * const options: WaitObjectsOptions = { timeout: 1000, count: 1 };
 * const ready = await wait([spawn(() => sleep(1)), spawn(() => sleep(5))], options);
 * assert.equal(ready.length, 1);
 * await wait();
 * ```
 */
export interface WaitObjectsOptions {
  /** Give up after this many milliseconds; undefined waits forever. */
  timeout?: number | undefined;
  /** Stop after this many objects became ready; defaults to all of them. */
  count?: number | undefined;
}

const WAIT_OPTIONS = optionNames("timeout", "count");
/** `wait()` without objects waits for the hub to go quiet: no count. */
const QUIET_OPTIONS = optionNames("timeout");

function checkWaitArgs(
  action: string,
  objects: unknown,
  options: WaitObjectsOptions | undefined,
): void {
  if (objects !== undefined && !isIterable(objects)) {
    throw new TypeError(
      `Cannot ${action}: objects must be an iterable of waitables, received ${
        describe(objects)
      }`,
    );
  }
  checkOptions(
    action,
    options,
    objects === undefined ? QUIET_OPTIONS : WAIT_OPTIONS,
  );
  checkTimeout(action, options?.timeout);
  checkCount(action, options?.count);
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return v !== null && typeof v === "object" &&
    typeof (v as Iterable<unknown>)[Symbol.iterator] === "function";
}

function checkWaitable(action: string, o: unknown): Waitable {
  if (
    o === null || typeof o !== "object" ||
    typeof (o as Waitable).ready !== "function" ||
    typeof (o as Waitable).rawlink !== "function" ||
    typeof (o as Waitable).unlink !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: every object must be a Greenlet, Event or other waitable, received ${
        describe(o)
      }`,
    );
  }
  return o as Waitable;
}

/** The objects that got ready, and the iterator's one waiter. */
class ReadyQueue<T extends Waitable> {
  items: T[] = [];
  waiters: WaiterList = new WaiterList();
  readonly n: number;
  /** Objects ready when the wait began: they come first, in the order given. */
  readonly early: Set<T>;
  /** How many of those have been notified (their links ran). */
  earlyNotified = 0;
  readonly cb: (o: T) => void;
  constructor(n: number, early: Set<T>) {
    this.n = n;
    this.early = early;
    this.cb = (o: T) => {
      if (this.early.has(o)) this.earlyNotified++;
      else this.items.push(o);
      const w = this.waiters.shift();
      if (w !== null) settleNow(w, true, undefined);
    };
  }
  toString(): string {
    return `iwait() of ${this.n} object${this.n === 1 ? "" : "s"}`;
  }
}

/**
 * Yields each object as it becomes ready — already-ready ones first, in the
 * order given — until `count` objects were yielded or `timeout` ms passed.
 *
 * @param objects Greenlets, locks or other waitables to watch.
 * @param options `timeout` in ms for the whole iteration; `count` of objects.
 * @returns An async iterator over the objects in the order they got ready.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iwait, sleep, spawn } from "./mod.ts";
 * const fast = spawn(async () => { await sleep(10); return "fast"; });
 * const slow = spawn(async () => { await sleep(20); return "slow"; });
 * const order: unknown[] = [];
 * for await (const g of iwait([slow, fast])) order.push(g.value);
 * assert.deepEqual(order, ["fast", "slow"]);
 * ```
 */
export function iwait<T extends Waitable>(
  objects: Iterable<T>,
  options?: WaitObjectsOptions,
): AsyncGenerator<T, void, undefined> {
  return iwaitGen(waitables("iwait", objects, options), options);
}

function waitables<T extends Waitable>(
  action: string,
  objects: Iterable<T>,
  options: WaitObjectsOptions | undefined,
): T[] {
  checkWaitArgs(action, objects, options);
  const list: T[] = [];
  for (const o of objects) list.push(checkWaitable(action, o) as T);
  return list;
}

async function* iwaitGen<T extends Waitable>(
  list: T[],
  options: WaitObjectsOptions | undefined,
): AsyncGenerator<T, void, undefined> {
  const count = Math.min(options?.count ?? list.length, list.length);
  const timeout = options?.timeout;
  const scope = currentScope();
  const core = hubCoreOf(scope.task);
  const deadline = timeout === undefined ? Infinity : core.now() + timeout;
  const early = new Set(list.filter((o) => o.ready()));
  const rq = new ReadyQueue<T>(list.length, early);
  for (const o of list) o.rawlink(rq.cb as (o: Waitable) => void);
  try {
    let yielded = 0;
    // the already-ready ones, once their links ran (rule 7), in given order
    let earlyOut = early.size === 0;
    while (yielded < count) {
      if (!earlyOut && rq.earlyNotified === early.size) {
        rq.items.unshift(...list.filter((o) => early.has(o)));
        earlyOut = true;
      }
      if (!earlyOut || rq.items.length === 0) {
        const left = deadline - core.now();
        if (left <= 0 && deadline !== Infinity) return;
        const w = waitOn(scope, rq, {
          list: rq.waiters,
          timeout: deadline === Infinity ? undefined : left,
          timeoutValue: false,
        });
        if (await w.promise === false) return;
        continue;
      }
      yielded++;
      yield rq.items.shift()!;
    }
  } finally {
    for (const o of list) o.unlink(rq.cb as (o: Waitable) => void);
  }
}

/**
 * Waits for objects to become ready, or — called with no objects — for the
 * hub to have nothing left to do: no runnable greenlet, no hub timer, no
 * tracked operation (gevent's `gevent.wait()`).
 *
 * @param objects Greenlets, locks or other waitables to wait for.
 * @param options `timeout` in ms; `count` (with objects only): return once
 * that many are ready.
 * @returns The objects that became ready, in the order they did; with no
 * objects, `true` when the hub went quiet and `false` on timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, wait } from "./mod.ts";
 * const a = spawn(() => sleep(10));
 * const b = spawn(() => sleep(20));
 * const ready = await wait([a, b], { count: 1 });
 * assert.equal(ready[0], a);
 * await wait(); // until b is done too
 * ```
 */
export function wait(
  objects?: undefined,
  options?: { timeout?: number | undefined },
): Promise<boolean>;
/**
 * Waits for objects to become ready (see the overload without objects).
 *
 * @param objects Greenlets, locks or other waitables to wait for.
 * @param options `timeout` in ms; `count`: return once that many are ready.
 * @returns The objects that became ready, in the order they did.
 */
export function wait<T extends Waitable>(
  objects: Iterable<T>,
  options?: WaitObjectsOptions,
): Promise<T[]>;
export function wait<T extends Waitable>(
  objects?: Iterable<T>,
  options?: WaitObjectsOptions,
): Promise<T[] | boolean> {
  if (objects === undefined) {
    checkWaitArgs("wait", objects, options);
    const scope = currentScope();
    return hubCoreOf(scope.task).quiet.waitQuiet(scope, options?.timeout);
  }
  return collect(iwaitGen(waitables("wait", objects, options), options));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const o of it) out.push(o);
  return out;
}
