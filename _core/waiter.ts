/**
 * Owns waiting and cancellation: one Waiter per blocking call, the FIFO lists
 * they queue on, scopes (a greenlet's task and the scopes inside it, each
 * cancelled level-triggered or sent a one-shot error), and delivery — the one
 * place an error is thrown into a greenlet.
 *
 * @module
 */

import type { Timer } from "./timer_heap.ts";
import { actFor, emit, onDetach, onSettle, onSwitch, onWait } from "./hooks.ts";
import { timeLeft, userSite } from "../_util/mod.ts";

/** What the waiting layer needs from a hub (implemented by the hub core). */
export interface Scheduler {
  /** The hub's main task: code outside greenlets, and link callbacks. */
  readonly main: Task;
  /** The hub's time in milliseconds. */
  now(): number;
  /** Appends `fn(arg, arg2)` (which resumes no greenlet) to the hub's run queue. */
  schedule<A, B>(fn: (arg: A, arg2: B) => void, arg: A, arg2?: B): void;
  /** Appends `fn(arg)`, which resumes `task` (settles its wait's promise). */
  resume<A>(fn: (arg: A) => void, arg: A, task: Task): void;
  /** Like `resume`, before everything queued (for code run from the queue). */
  resumeFirst<A>(fn: (arg: A) => void, arg: A, task: Task): void;
  /** `task` reached a switch point: the hub may resume the next greenlet. */
  park(task: Task): void;
  /**
   * The task resumed last and not parked since (it runs, or is away unseen);
   * the runtime's next turn tells which (`Task.wentAway`).
   */
  running(): Task | null;
  /** Whether a resumption of `task` is queued. */
  holds(task: Task): boolean;
  /**
   * Queues a `sleep(0)` of the scope's task and parks it; returns its slot
   * in the run queue.
   */
  yieldTurn(
    resume: (v: undefined, scope: Scope) => void,
    scope: Scope,
  ): number;
  /**
   * If the yield queued at `slot` is still there and `hit(scope)` holds for
   * its scope, it calls `redirect(resume, error)` instead; returns whether
   * it was redirected.
   */
  redirectYield(
    slot: number,
    hit: (scope: unknown) => boolean,
    redirect: (resume: (v: unknown) => void, error: unknown) => void,
    error: unknown,
  ): boolean;
  /** Arms a hub timer: `fn(arg)` after `ms` milliseconds. */
  addTimer(ms: number, fn: (arg: unknown) => void, arg: unknown): Timer;
  /** Disarms a hub timer; a no-op if it fired or was cancelled. */
  cancelTimer(t: Timer): void;
  /** `task` started (+1) or stopped (-1) waiting on something. */
  noteBlocked(task: Task, delta: number): void;
  /** Hands an error to `hub.handleError`, never throwing. */
  reportError(task: Task, error: unknown): void;
}

/** An error thrown into a scope: a cancellation, or a one-shot Timeout. */
export class Pending {
  /** What to throw. */
  readonly error: unknown;
  /** The Timeout that threw it, or null for a kill. */
  readonly source: unknown;
  /** A cancellation (it stays) rather than a one-shot error (taken once). */
  readonly level: boolean;
  /** How many waits it rejected so far. */
  delivered = 0;
  /** A later kill's error: the cancellation once this one was delivered. */
  next: Pending | null = null;
  /** The cancellation this one followed (a second kill), if any. */
  previous: Pending | null = null;
  /**
   * Whether its greenlet was away in an await the hub does not own while it
   * was pending: if the function then returns first, it still ends killed.
   */
  whileAway = false;

  /** Whether `e` is this cancellation's error or an earlier one's. */
  threw(e: unknown): boolean {
    return this.error === e ||
      (this.previous !== null && this.previous.threw(e));
  }

  constructor(error: unknown, source: unknown, level: boolean) {
    this.error = error;
    this.source = source;
    this.level = level;
  }
}

/**
 * How many times a cancellation rejects the waits of a flow that keeps
 * catching it and waiting again (a catch-all retry loop): at the next wait
 * after these the flow is abandoned (see `Scope.abandon`).
 */
export const MAX_DELIVERIES = 10;

/** What a scope's cancellation aborts besides its waits (made on first use). */
export interface ScopeSignals {
  /** Its AbortSignal's controller. */
  ac: AbortController | null;
  /** Stops following the outer scope's signal. */
  unfollow: (() => void) | null;
  /** Controllers of operations that its cancellation aborts (held weakly). */
  followers: Set<WeakRef<AbortController>> | null;
}

function signalsOf(scope: Scope): ScopeSignals {
  return scope.signals ??= { ac: null, unfollow: null, followers: null };
}

/**
 * Where waits start: a greenlet's task (its root scope) or a scope inside it
 * (`withTimeout`, `shield`, a patched timer's callback), carried by the
 * AsyncLocalStorage. Cancelling a scope is level-triggered: every wait in it
 * and in the scopes inside it rejects until they end — except inside a
 * shielded scope, which cancellation from outside does not reach.
 */
export class Scope {
  /** The greenlet's task this scope belongs to. */
  readonly task: Task;
  /** The enclosing scope; null for a task. */
  readonly outer: Scope | null;
  /**
   * Its cancellation (kill, withTimeout deadline: `level`), which stays, or
   * a one-shot error (a `Timeout`) for its next wait.
   */
  stop: Pending | null = null;
  /** Its signal and the operations that follow it, made on first use. */
  signals: ScopeSignals | null = null;

  constructor(task: Task | null, outer: Scope | null) {
    this.task = task ?? (this as unknown as Task);
    this.outer = outer;
  }

  /** Whether cancellation from outer scopes stops here (see `ShieldScope`). */
  get shielded(): boolean {
    return false;
  }

  /**
   * A flow in this scope kept catching the scope's cancellation and waiting
   * again, at `site`: returns whether it is abandoned there (its wait never
   * settles). A greenlet's task then ends killed; a `withTimeout` scope
   * settles. Others (a hub's main) go on rejecting.
   */
  abandon(_site: string | null): boolean {
    return false;
  }

  /**
   * How run info names this scope around a wait: `withTimeout(1000 ms, 0.4 s
   * left)` at hub time `now`, `withTimeout(1000 ms)` when `now` is null (a
   * trace); null for a scope it does not name.
   */
  label(_now: number | null): string | null {
    return null;
  }
}

/** A scope that cancellation from outer scopes does not reach (`shield`). */
export class ShieldScope extends Scope {
  /** Always true. */
  override get shielded(): boolean {
    return true;
  }
}

/** Run states of a task, written by greenlet.ts. */
export const NEW = 0, SCHEDULED = 1, RUNNING = 2, DEAD = 3;

/**
 * A greenlet's internal record. Each group of fields has one writer:
 * waits, pending and the yield slot — this module; state, greenlet and
 * spawnSite — greenlet.ts; lnext/lprev (the hub's live list) — the hub core.
 */
export class Task extends Scope {
  /** The hub core that runs this task. */
  readonly core: Scheduler;
  /** The greenlet that spawned this one (null for a hub's main). */
  readonly parent: Task | null;

  /** Whether this is a hub's main (code outside greenlets). */
  get isMain(): boolean {
    return this.parent === null;
  }
  /** Active waits, newest first (linked through `gnext`/`gprev`). */
  waits: Waiter | null = null;
  /** Run-queue slot of its latest `sleep(0)` (maybe run already). */
  yieldSlot = -1;
  /** NEW, SCHEDULED, RUNNING or DEAD. */
  state: number = NEW;
  /** The public Greenlet (main's is made on first use). */
  greenlet: object | null = null;
  /** Where it was spawned, while a monitor records it. */
  spawnSite: string | null = null;
  /** The hub's live list. */
  lnext: Task | null = null;
  /** See `lnext`. */
  lprev: Task | null = null;
  /** Scopes told when the task is found away (see {@linkcode watchAway}). */
  awayWatchers: AwayWatcher[] | null = null;
  /**
   * Scopes whose bodies were detached at their deadline and have not ended
   * (run info lists them; see {@linkcode noteDetached}).
   */
  detached: Scope[] | null = null;

  /** Whether it is away in an await the hub does not own, as far as the hub knows. */
  get away(): boolean {
    return this.waits === null && this.core.running() !== this &&
      !this.core.holds(this);
  }

  /** The run queue found it away in an await the hub does not own. */
  wentAway(): void {
    const stop = this.stop;
    if (stop !== null && stop.level && stop.delivered === 0) {
      stop.whileAway = true;
    }
    const list = this.awayWatchers;
    if (list === null) return;
    for (const w of list.slice()) w.away();
  }

  constructor(core: Scheduler, parent: Task | null) {
    super(null, null);
    this.core = core;
    this.parent = parent;
  }
}

/** Something told when a task is found away (a scope past its deadline). */
export interface AwayWatcher {
  /** The task is away in an await the hub does not own. */
  away(): void;
}

/** Tells `watcher` whenever `task` is found away, until {@linkcode unwatchAway}. */
export function watchAway(task: Task, watcher: AwayWatcher): void {
  (task.awayWatchers ??= []).push(watcher);
}

/** Stops telling `watcher`. */
export function unwatchAway(task: Task, watcher: AwayWatcher): void {
  const list = task.awayWatchers;
  if (list === null) return;
  const i = list.indexOf(watcher);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) task.awayWatchers = null;
}

/** `scope`'s body was detached at its deadline: run info lists it until it ends. */
export function noteDetached(scope: Scope): void {
  (scope.task.detached ??= []).push(scope);
  if (onDetach !== null) emit(onDetach, scope);
}

/** The detached body of `scope` ended. */
export function dropDetached(scope: Scope): void {
  const task = scope.task;
  const list = task.detached;
  if (list === null) return;
  const i = list.indexOf(scope);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) task.detached = null;
}

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
 * The error a wait started in `scope` now would throw: a cancellation of
 * the scope or of an outer one up to a shield (it stays), or a one-shot
 * error pending there (taken when `take`); undefined when there is none.
 */
export function interruption(scope: Scope, take: boolean): Pending | undefined {
  const s = interrupter(scope);
  if (s === null) return undefined;
  const p = s.stop!;
  if (take) taken(s, p);
  return p;
}

/** The scope whose error a wait started in `scope` now would throw, or null. */
function interrupter(scope: Scope): Scope | null {
  for (let s: Scope | null = scope; s !== null; s = s.outer) {
    if (s.stop !== null) return s;
    if (s.shielded) break;
  }
  return null;
}

/** `p`, the error of `s`, rejected a wait: one-shot errors are used up. */
function taken(s: Scope, p: Pending): void {
  if (!p.level) {
    s.stop = null;
    return;
  }
  // a later kill's error is thrown from the next wait on
  if (++p.delivered === 1 && p.next !== null) {
    const next = s.stop = p.next;
    next.previous = p;
    next.delivered = 1;
  }
}

/** Whether a wait started in `scope` now would not be interrupted (fast path). */
export function unhindered(scope: Scope): boolean {
  return (scope.stop === null && scope.outer === null) ||
    interruption(scope, false) === undefined;
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
    const signals = target.signals;
    if (signals !== null) {
      signals.ac?.abort(error);
      const followers = signals.followers;
      signals.followers = null;
      if (followers !== null) {
        for (const ref of followers) ref.deref()?.abort(error);
      }
    }
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
 * The scope's AbortSignal: aborted when it is cancelled, or when an outer
 * scope is (up to a shield).
 */
export function scopeSignal(scope: Scope): AbortSignal {
  const signals = signalsOf(scope);
  if (signals.ac !== null) return signals.ac.signal;
  const ac = signals.ac = new AbortController();
  const cancelled = findCancel(scope);
  if (cancelled !== undefined) {
    ac.abort(cancelled.error);
  } else if (!scope.shielded && scope.outer !== null) {
    const outer = scopeSignal(scope.outer);
    const follow = () => ac.abort(outer.reason);
    outer.addEventListener("abort", follow, { once: true });
    signals.unfollow = () => outer.removeEventListener("abort", follow);
  }
  return ac.signal;
}

function findCancel(scope: Scope): Pending | undefined {
  for (let s: Scope | null = scope; s !== null; s = s.outer) {
    if (s.stop !== null && s.stop.level) return s.stop;
    if (s.shielded) break;
  }
  return undefined;
}

interface Follower {
  readonly set: Set<WeakRef<AbortController>>;
  readonly ref: WeakRef<AbortController>;
}

// Drops a follower once its controller is collected. (A listener on a
// long-lived scope signal, or AbortSignal.any, would keep one per operation.)
const collected = new FinalizationRegistry<Follower>((f) =>
  f.set.delete(f.ref)
);

/**
 * Makes `controller` abort when `scope` is cancelled (or an outer scope, up
 * to a shield), at once if it is already; holds it weakly.
 */
export function followScope(scope: Scope, controller: AbortController): void {
  const cancelled = findCancel(scope);
  if (cancelled !== undefined) {
    controller.abort(cancelled.error);
    return;
  }
  const ref = new WeakRef(controller);
  for (let s: Scope | null = scope; s !== null; s = s.outer) {
    const set = signalsOf(s).followers ??= new Set();
    set.add(ref);
    collected.register(controller, { set, ref });
    if (s.shielded) break;
  }
}

const signalFollowers = new WeakMap<
  AbortSignal,
  Set<WeakRef<AbortController>>
>();

/**
 * Makes `controller` abort with `signal` (a caller's own): one listener per
 * signal, however many operations follow it, each held weakly.
 */
export function followSignal(
  signal: AbortSignal,
  controller: AbortController,
): void {
  if (signal.aborted) {
    controller.abort(signal.reason);
    return;
  }
  let set = signalFollowers.get(signal);
  if (set === undefined) {
    const followers = set = new Set();
    signalFollowers.set(signal, set);
    signal.addEventListener("abort", () => {
      signalFollowers.delete(signal);
      for (const ref of followers) ref.deref()?.abort(signal.reason);
    }, { once: true });
  }
  const ref = new WeakRef(controller);
  set.add(ref);
  collected.register(controller, { set, ref });
}

/** A scope ended: it stops following its outer scope's signal. */
export function closeScope(scope: Scope): void {
  const signals = scope.signals;
  if (signals !== null && signals.unfollow !== null) {
    signals.unfollow();
    signals.unfollow = null;
  }
}

/**
 * What `task` waits on, e.g. `sleep (3.2 s left) and join of <…>`: each
 * wait's source, with the time left when it has a timeout; null if nothing.
 */
export function describeWaits(task: Task): string | null {
  let text: string | null = null;
  let now: number | null = null;
  for (let w = task.waits; w !== null; w = w.gnext) {
    let part = String(w.source);
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
