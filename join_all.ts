/**
 * `joinAll` and `killAll`: waiting for, and killing, many greenlets at once.
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
  interruption,
  settleNow,
  type Waiter,
  waitOn,
} from "./_core/mod.ts";
import { linksRan } from "./linkable.ts";
import { Greenlet, GreenletExit } from "./greenlet.ts";
import { Timeout } from "./timeout.ts";

const resolvedVoid: Promise<void> = Promise.resolve();
const JOIN_ALL_OPTIONS = optionNames("timeout", "raiseError", "count");
const KILL_ALL_OPTIONS = optionNames("error", "block", "timeout");

/**
 * Options for {@linkcode joinAll}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, type JoinAllOptions, sleep, spawn } from "./mod.ts";
 * const options: JoinAllOptions = { timeout: 1000, raiseError: true, count: 1 };
 * const gs = [spawn(() => sleep(1)), spawn(() => sleep(5))];
 * assert.equal((await joinAll(gs, options)).length, 1);
 * await joinAll(gs);
 * ```
 */
export interface JoinAllOptions {
  /** Return what finished after this many milliseconds (never rejects). */
  timeout?: number | undefined;
  /** Reject with the first failure, in completion order. */
  raiseError?: boolean | undefined;
  /** Return once this many greenlets finished. */
  count?: number | undefined;
}

function checkGreenlets(action: string, greenlets: unknown): Greenlet[] {
  if (
    greenlets === null || typeof greenlets !== "object" ||
    typeof (greenlets as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: greenlets must be an iterable of Greenlets, received ${
        describe(greenlets)
      }`,
    );
  }
  const list: Greenlet[] = [];
  for (const g of greenlets as Iterable<unknown>) {
    if (!(g instanceof Greenlet)) {
      throw new TypeError(
        `Cannot ${action}: every item must be a Greenlet, received ${
          describe(g)
        }`,
      );
    }
    list.push(g);
  }
  return list;
}

/** The state of one joinAll: what finished, and its waiter. */
class JoinAll {
  done: Greenlet[] = [];
  count: number;
  raiseError: boolean;
  total: number;
  w: Waiter | null = null;
  failed = false;
  /** The wait is over (count reached, a failure, the timeout): stop collecting. */
  finished = false;
  readonly cb: (g: Greenlet) => void;
  constructor(total: number, count: number, raiseError: boolean) {
    this.total = total;
    this.count = count;
    this.raiseError = raiseError;
    this.cb = (g: Greenlet) => {
      if (this.finished) return;
      if (this.raiseError && !g.successful()) {
        this.finished = this.failed = true;
        this.done.push(g);
        if (this.w !== null) settleNow(this.w, false, g.exception);
        return;
      }
      this.done.push(g);
      if (this.done.length >= this.count) {
        this.finished = true;
        if (this.w !== null) settleNow(this.w, true, this.done.slice());
      }
    };
  }
  toString(): string {
    return `joinAll of ${this.total} greenlet${
      this.total === 1 ? "" : "s"
    } (${this.done.length} done)`;
  }
}

/**
 * Waits for greenlets to finish and returns those that did, in completion
 * order (already-finished ones first, in the order given). A `timeout` never
 * rejects: it returns the shorter list. With `raiseError` it rejects with the
 * first failure in completion order.
 *
 * @param greenlets The greenlets to wait for.
 * @param options `timeout` in milliseconds, `raiseError`, `count`.
 * @returns The greenlets that finished, in completion order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, sleep, spawn } from "./mod.ts";
 * const b = spawn(() => sleep(10));
 * const a = spawn(() => sleep(20));
 * const done = await joinAll([a, b]);
 * assert.equal(done[0], b);
 * ```
 */
export function joinAll<G extends Greenlet<unknown>>(
  greenlets: Iterable<G>,
  options?: JoinAllOptions,
): Promise<G[]> {
  const list = checkGreenlets("joinAll", greenlets);
  checkOptions("joinAll", options, JOIN_ALL_OPTIONS);
  const timeout = options?.timeout;
  checkTimeout("joinAll", timeout);
  const count = options?.count;
  checkCount("joinAll", count);
  const j = new JoinAll(
    list.length,
    Math.min(count ?? list.length, list.length),
    options?.raiseError ?? false,
  );
  for (const g of list) {
    if (linksRan(g)) j.cb(g); // rule 7: its own links first
  }
  if (j.failed) {
    return Promise.reject(j.done[j.done.length - 1].exception);
  }
  const scope = currentScope();
  if (j.done.length >= j.count && interruption(scope, false) === undefined) {
    return Promise.resolve(j.done.slice(0, j.count)) as Promise<G[]>;
  }
  const w = waitOn(scope, j, {
    timeout,
    timeoutValue: null,
    onTimeout: () => void (j.finished = true),
  });
  if (!w.active) return w.promise as Promise<G[]>;
  j.w = w;
  for (const g of list) {
    if (!linksRan(g)) g.rawlink(j.cb);
  }
  return (w.promise as Promise<G[] | null>).then(
    (v) => {
      for (const g of list) g.unlink(j.cb);
      return v ?? j.done.slice() as G[];
    },
    (e) => {
      for (const g of list) g.unlink(j.cb);
      throw e;
    },
  );
}

/**
 * Options for {@linkcode killAll}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GreenletExit, killAll, type KillAllOptions, sleep, spawn } from "./mod.ts";
 * const options: KillAllOptions = { error: new GreenletExit("shutdown"), timeout: 100 };
 * const g = spawn(() => sleep(1000));
 * await killAll([g], options);
 * assert.equal(g.value, options.error);
 * ```
 */
export interface KillAllOptions {
  /** What to throw into each greenlet; defaults to a new `GreenletExit`. */
  error?: unknown | undefined;
  /** Wait for them to die (default true). */
  block?: boolean | undefined;
  /** With `block`, wait at most this many milliseconds, then reject with `Timeout`. */
  timeout?: number | undefined;
}

/**
 * Kills every greenlet (see {@linkcode Greenlet.kill}) and, with `block`
 * (the default), waits until all of them died; if some outlive `timeout`
 * ms, it rejects with {@linkcode Timeout} (as gevent's `killall`).
 *
 * @param greenlets The greenlets to kill.
 * @param options `error` to throw, `block`, and `timeout` in milliseconds.
 * @returns A promise that resolves once they are dead (or at once without
 * `block`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { killAll, sleep, spawn } from "./mod.ts";
 * const gs = [spawn(() => sleep(1000)), spawn(() => sleep(1000))];
 * await killAll(gs);
 * assert.ok(gs.every((g) => g.dead));
 * ```
 */
export function killAll(
  greenlets: Iterable<Greenlet>,
  options?: KillAllOptions,
): Promise<void> {
  const list = checkGreenlets("killAll", greenlets);
  checkOptions("killAll", options, KILL_ALL_OPTIONS);
  const timeout = options?.timeout;
  checkTimeout("killAll", timeout);
  const block = options?.block ?? true;
  for (const g of list) {
    if (g.parent === null) {
      throw new TypeError(
        `Cannot killAll: main is the code outside greenlets, not a greenlet to kill, received ${g}`,
      );
    }
  }
  for (const g of list) {
    g.kill(
      options?.error === undefined ? new GreenletExit() : options.error,
      { block: false },
    );
  }
  if (!block) return resolvedVoid;
  return joinAll(list, { timeout }).then((done) => {
    if (done.length < list.length) throw new Timeout(timeout);
  });
}
