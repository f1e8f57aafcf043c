/**
 * Owns waiting: one Waiter per blocking call, the FIFO lists they queue on,
 * starting a wait (a switch point) and settling it through the run queue,
 * `sleep(0)`, and the text of what a task waits on.
 *
 * @module
 */

import type { Timer } from "./timer_heap.ts";
import { emit, onSettle, onSwitch, onWait, takeSite } from "./hooks.ts";
import {
  interrupter,
  MAX_DELIVERIES,
  type Scope,
  taken,
  type Task,
  unhindered,
} from "./scope.ts";
import { timeLeft, userSite } from "../_util/mod.ts";

let capturedRes: (v: unknown) => void;
let capturedRej: (e: unknown) => void;
/** A promise executor that leaves its resolvers in two module variables. */
export function capture(
  res: (v: unknown) => void,
  rej: (e: unknown) => void,
): void {
  capturedRes = res;
  capturedRej = rej;
}

/**
 * One pending blocking call of one task. It sits in the FIFO list of what it
 * waits on (`list`) and in its task's active waits until it is settled: by
 * the source, its timeout, its signal, or an error thrown into the task.
 */
export class Waiter {
  /** The scope the wait started in. */
  readonly scope: Scope;
  /** What it waits on; `String(source)` describes it (LoopExit, run info). */
  readonly source: object;
  readonly promise: Promise<unknown>;
  res: (v: unknown) => void;
  rej: (e: unknown) => void;
  active = true;
  list: WaiterList | null = null;
  next: Waiter | null = null;
  prev: Waiter | null = null;
  gnext: Waiter | null = null;
  gprev: Waiter | null = null;
  timer: Timer | null = null;
  options: WaitOptions;

  constructor(scope: Scope, source: object, options: WaitOptions) {
    this.scope = scope;
    this.source = source;
    this.options = options;
    this.promise = new Promise(capture);
    this.res = capturedRes;
    this.rej = capturedRej;
  }

  /** The task that waits. */
  get task(): Task {
    return this.scope.task;
  }

  /** Its signal aborted: the wait rejects with the reason (the waiter is its own listener). */
  handleEvent(): void {
    settle(this, false, this.options.signal!.reason);
  }
}

/** An intrusive FIFO list of waiters (O(1) push, shift, remove). */
export class WaiterList {
  head: Waiter | null = null;
  tail: Waiter | null = null;
  size = 0;

  push(w: Waiter): void {
    w.list = this;
    w.prev = this.tail;
    w.next = null;
    if (this.tail === null) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    this.size++;
  }

  /** Removes and returns the oldest waiter. */
  shift(): Waiter | null {
    const w = this.head;
    if (w !== null) this.remove(w);
    return w;
  }

  remove(w: Waiter): void {
    if (w.list !== this) return;
    if (w.prev === null) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.next = w.prev = null;
    w.list = null;
    this.size--;
  }

  /**
   * Settles every waiter, oldest first, with `value` (`now`: at once, for
   * code already running from the run queue; else through the run queue).
   */
  settleAll(value: unknown, now: boolean): void {
    let w: Waiter | null;
    while ((w = this.shift()) !== null) {
      if (now) settleNow(w, true, value);
      else settle(w, true, value);
    }
  }

  /**
   * From the run queue: settles every waiter, oldest first — a raising one
   * (with a `timeoutError`) rejects with `error`, the others resolve with
   * `value`.
   */
  settleAllFailed(value: unknown, error: unknown): void {
    let w: Waiter | null;
    while ((w = this.shift()) !== null) {
      if (w.options.timeoutError === undefined) settleNow(w, true, value);
      else settleNow(w, false, error);
    }
  }
}

/** How a wait behaves besides waiting for its source. */
export interface WaitOptions {
  /** The FIFO list the waiter joins (the source settles it from there). */
  readonly list?: WaiterList | null | undefined;
  /** Milliseconds before the wait ends by itself; undefined: never. */
  readonly timeout?: number | undefined;
  /** Aborting it rejects the wait with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** On timeout, resolve with this (when `timeoutError` is not given). */
  readonly timeoutValue?: unknown | undefined;
  /** On timeout, reject with what this returns. */
  readonly timeoutError?: (() => unknown) | undefined;
  /** Teardown: stops the operation behind the wait when an error is thrown into it. */
  readonly abort?: ((reason: unknown) => void) | undefined;
  /** Called when the timeout passes, before the wait settles. */
  readonly onTimeout?: (() => void) | undefined;
}

/** Options of a plain wait: no list, no timeout, no signal. */
export const NO_OPTIONS: WaitOptions = {};

function detach(w: Waiter): void {
  w.active = false;
  if (w.list !== null) w.list.remove(w);
  const task = w.task;
  if (w.timer !== null) {
    task.core.cancelTimer(w.timer);
    w.timer = null;
  }
  const signal = w.options.signal;
  if (signal !== undefined) signal.removeEventListener("abort", w);
  if (w.gprev === null) {
    if (task.waits === w) {
      task.waits = w.gnext;
      if (w.gnext === null && task.parent !== null) {
        task.core.noteBlocked(task, -1);
      }
    }
  } else w.gprev.gnext = w.gnext;
  if (w.gnext !== null) w.gnext.gprev = w.gprev;
  w.gnext = w.gprev = null;
  if (onSettle !== null) emit(onSettle, w);
}

/**
 * Settles an active waiter: its task resumes from the hub's run queue with
 * `value` (or `value` thrown when `ok` is false). Returns false if the
 * waiter was already settled.
 */
export function settle(w: Waiter, ok: boolean, value: unknown): boolean {
  if (!w.active) return false;
  detach(w);
  const task = w.task;
  task.core.resume(ok ? w.res : w.rej, value, task);
  return true;
}

/**
 * Like {@linkcode settle} but resumes before everything queued: for code run
 * from the run queue (a notification wakes its waiters next, in order).
 */
export function settleNow(w: Waiter, ok: boolean, value: unknown): boolean {
  if (!w.active) return false;
  detach(w);
  const task = w.task;
  task.core.resumeFirst(ok ? w.res : w.rej, value, task);
  return true;
}

function onWaitTimer(arg: unknown): void {
  const w = arg as Waiter;
  w.timer = null;
  const o = w.options;
  if (o.onTimeout !== undefined) o.onTimeout();
  if (!w.active) return;
  if (o.timeoutError !== undefined) settle(w, false, o.timeoutError());
  else settle(w, true, o.timeoutValue);
}

function rejectLater(w: Waiter, error: unknown): Waiter {
  w.active = false;
  const task = w.task;
  task.core.resume(w.rej, error, task);
  task.core.park(task);
  return w;
}

/**
 * Starts a blocking wait on `source` in `scope`: a switch point. A
 * cancellation or a pending error of the scope, or an aborted signal, rejects
 * it through the run queue at once. Returns the waiter; its `promise` is what
 * the caller returns.
 */
export function waitOn(
  scope: Scope,
  source: object,
  options: WaitOptions,
): Waiter {
  const task = scope.task;
  if (onSwitch !== null) emit(onSwitch, task);
  const w = new Waiter(scope, source, options);
  if (
    scope.stop !== null || scope.outer !== null
  ) {
    const s = interrupter(scope);
    if (s !== null) {
      const stop = s.stop!;
      if (
        stop.level && stop.delivered >= MAX_DELIVERIES && s.abandon(userSite())
      ) return abandonWait(w);
      taken(s, stop);
      return rejectLater(w, stop.error);
    }
  }
  const signal = options.signal;
  if (signal !== undefined && signal.aborted) {
    return rejectLater(w, signal.reason);
  }
  const head = task.waits;
  if (head === null) {
    if (task.parent !== null) task.core.noteBlocked(task, 1); // not main
    else task.core.mainWaitSite = takeSite(waitOn); // for a LoopExit
  } else {
    head.gprev = w;
    w.gnext = head;
  }
  task.waits = w;
  const list = options.list;
  if (list != null) list.push(w);
  const timeout = options.timeout;
  if (timeout !== undefined && timeout !== Infinity) {
    w.timer = task.core.addTimer(timeout, onWaitTimer, w);
  }
  if (signal !== undefined) signal.addEventListener("abort", w, { once: true });
  if (onWait !== null) emit(onWait, w);
  task.core.park(task);
  return w;
}

/** The flow waiting in `w` caught a cancellation too often: it never settles. */
function abandonWait(w: Waiter): Waiter {
  w.active = false;
  const task = w.task;
  task.core.park(task);
  return w;
}

const yieldSource = { toString: () => "sleep(0)" };

/**
 * `sleep(0)`: puts the scope's task at the tail of the run queue. An error
 * thrown into the scope before it resumes is thrown here.
 */
export function yieldNow(scope: Scope): Promise<unknown> {
  // a cancellation or pending error is thrown from the run queue
  if (!unhindered(scope)) return waitOn(scope, yieldSource, NO_OPTIONS).promise;
  const task = scope.task;
  if (onSwitch !== null) emit(onSwitch, task);
  const p = new Promise(capture);
  task.yieldSlot = task.core.yieldTurn(capturedRes, scope);
  return p;
}

/**
 * What `task` waits on, e.g. `sleep (3.2 s left) and join of <…>`: each
 * wait's source (then what `detail` says of it, in brackets), with the time
 * left when it has a timeout; null if nothing.
 */
export function describeWaits(
  task: Task,
  detail?: (source: object) => string | null,
): string | null {
  let text: string | null = null;
  let now: number | null = null;
  for (let w = task.waits; w !== null; w = w.gnext) {
    let part = String(w.source);
    const more = detail === undefined ? null : detail(w.source);
    if (more !== null) part += ` (${more})`;
    if (w.timer !== null) {
      now ??= task.core.now();
      part += ` (${timeLeft(w.timer.deadline - now)})`;
    }
    for (let s: Scope | null = w.scope; s !== task && s !== null; s = s.outer) {
      now ??= task.core.now();
      const scope = s.label(now);
      if (scope !== null) part += ` inside ${scope}`;
    }
    text = text === null ? part : `${text} and ${part}`;
  }
  return text;
}
