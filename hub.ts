/**
 * The hub: gevent's event loop, rebuilt on the runtime's own.
 *
 * The hub owns a FIFO run queue, drained on microtasks, and a timer heap with
 * one native timer armed for the earliest deadline. Every wake-up of a
 * greenlet — a finished sleep, a released lock, a kill — goes through the run
 * queue, so greenlets resume in the order they were made runnable. After a
 * few milliseconds of continuous running the hub hands the thread back to
 * the runtime for one turn (`setImmediate`), so timers and I/O never starve.
 *
 * Most programs never touch the hub directly: {@linkcode getHub} returns the
 * default one and every primitive uses it.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import {
  nativeClearTimeout,
  nativeConsoleError,
  nativeNow,
  nativeQueueMicrotask,
  nativeSetImmediate,
  nativeSetTimeout,
  nativeTimerRef,
} from "./_native.ts";
import { Timer, TimerHeap } from "./_timer_heap.ts";
import type { Greenlet } from "./greenlet.ts";

// ---------------------------------------------------------------------------
// Clock

/**
 * Where a hub reads the time. The default reads `performance.now()`;
 * a virtual clock can be plugged in for tests.
 *
 * @example Counting time in steps of 10 ms
 * ```ts
 * import { Hub, type Clock } from "./mod.ts";
 * let t = 0;
 * const clock: Clock = { now: () => (t += 10) };
 * const hub = new Hub({ clock });
 * console.log(hub.now()); // 10
 * ```
 */
export interface Clock {
  /** The current time in milliseconds (any origin; only differences count). */
  now(): number;
}

const realClock: Clock = { now: nativeNow };

/**
 * Options for {@linkcode Hub}'s constructor.
 *
 * @example
 * ```ts
 * import { Hub, type HubOptions } from "./mod.ts";
 * const options: HubOptions = { clock: { now: () => performance.now() } };
 * console.log(new Hub(options).now() >= 0); // true
 * ```
 */
export interface HubOptions {
  /** Where the hub reads the time (ms). Defaults to `performance.now()`. */
  clock?: Clock;
}

// ---------------------------------------------------------------------------
// Errors

/**
 * One entry of {@linkcode LoopExit.blocked}: a greenlet and what it waits on.
 *
 * @example
 * ```ts
 * import { type BlockedWait, getHub, LoopExit } from "./mod.ts";
 * const entry: BlockedWait = { greenlet: getHub().main, waitingOn: "Semaphore(counter=0, waiters=1)" };
 * console.log(new LoopExit([entry]).blocked.length); // 1
 * ```
 */
export interface BlockedWait {
  /** The greenlet that waits. */
  greenlet: Greenlet;
  /** What it waits on, e.g. `Semaphore(counter=0, waiters=2)`. */
  waitingOn: string;
}

/**
 * Thrown into the main program's wait when nothing left in the process
 * could ever wake it: no runnable greenlet, no timer, no pending I/O.
 * gevent's `LoopExit`, with the list of what is stuck.
 *
 * @example Catching a deadlock
 * ```ts
 * import { LoopExit } from "./mod.ts";
 * try {
 *   // await new Semaphore(0).acquire(); // would end here
 * } catch (e) {
 *   if (e instanceof LoopExit) console.error(e.blocked);
 * }
 * ```
 */
export class LoopExit extends Error {
  /** Every greenlet that was blocked, main included, with what it waits on. */
  readonly blocked: readonly BlockedWait[];

  /**
   * Creates the error from the list of blocked greenlets.
   *
   * @param blocked The greenlets that were blocked and what each waits on.
   */
  constructor(blocked: readonly BlockedWait[]) {
    const lines = blocked.map((b) =>
      `\n  ${b.greenlet} is waiting on ${b.waitingOn}`
    );
    super(
      "This operation would block forever: nothing is left that could wake " +
        `${blocked.length === 1 ? "this greenlet" : "these greenlets"}:` +
        lines.join(""),
    );
    this.name = "LoopExit";
    this.blocked = blocked;
  }
}

// ---------------------------------------------------------------------------
// Argument checks shared by every module

function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return v.toString();
  if (v === null || typeof v !== "object") return String(v);
  try {
    return JSON.stringify(v) ?? Object.prototype.toString.call(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** @internal Describes a value for an error message. */
export const _describe: (v: unknown) => string = describeValue;

/**
 * @internal Checks a timeout in ms: `undefined` (forever) or a number ≥ 0.
 * Throws `TypeError`/`RangeError` naming `action` and the value.
 */
export function _checkTimeout(
  action: string,
  timeout: unknown,
  name = "timeout",
): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new TypeError(
      `Cannot ${action}: ${name} must be a number of milliseconds or undefined, received ${
        describeValue(timeout)
      }`,
    );
  }
  if (timeout < 0) {
    throw new RangeError(
      `Cannot ${action}: ${name} must be ≥ 0, received ${timeout}`,
    );
  }
}

/** @internal Checks an optional AbortSignal. */
export function _checkSignal(action: string, signal: unknown): void {
  if (signal === undefined) return;
  if (
    signal === null || typeof signal !== "object" ||
    typeof (signal as AbortSignal).aborted !== "boolean" ||
    typeof (signal as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: signal must be an AbortSignal, received ${
        describeValue(signal)
      }`,
    );
  }
}

/** @internal Checks that an options argument is an object or undefined. */
export function _checkOptions(action: string, options: unknown): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot ${action}: options must be an object, received ${
        describeValue(options)
      }`,
    );
  }
}

// ---------------------------------------------------------------------------
// Waiters: one per blocking call

/**
 * @internal Something a greenlet can wait on; named in `LoopExit` messages
 * and run info.
 */
export interface WaitSource {
  /** A short description: `Semaphore(counter=0, waiters=3)`. */
  _describeWait(): string;
}

let capturedRes: (v: unknown) => void;
let capturedRej: (e: unknown) => void;
function capture(res: (v: unknown) => void, rej: (e: unknown) => void): void {
  capturedRes = res;
  capturedRej = rej;
}

/**
 * @internal One pending blocking call of one greenlet. It sits in the FIFO
 * list of what it waits on (`list`) and in its greenlet's list of active
 * waits, until it is settled: by the source, its timeout, its signal, or a
 * kill/Timeout thrown into the greenlet.
 */
export class Waiter {
  /** @internal */ g: Greenlet;
  /** @internal */ source: WaitSource;
  /** @internal */ list: WaiterList | null = null;
  /** @internal */ promise: Promise<unknown>;
  /** @internal */ res: (v: unknown) => void;
  /** @internal */ rej: (e: unknown) => void;
  /** @internal */ active = true;
  /** @internal */ ok = true;
  /** @internal */ value: unknown = undefined;
  /** @internal */ timeoutValue: unknown = undefined;
  /** @internal When set, a timeout rejects with what this returns. */
  timeoutError: (() => unknown) | null = null;
  /** @internal */ timer: Timer | null = null;
  /** @internal */ signal: AbortSignal | null = null;
  /** @internal */ onAbort: (() => void) | null = null;
  /** @internal */ next: Waiter | null = null;
  /** @internal */ prev: Waiter | null = null;
  /** @internal */ gnext: Waiter | null = null;
  /** @internal */ gprev: Waiter | null = null;
  /** @internal Free slot for the source's own bookkeeping. */
  data: unknown = undefined;
  /** @internal For tracked operations: aborts the operation itself. */
  abort: ((reason: unknown) => void) | null = null;

  constructor(g: Greenlet, source: WaitSource) {
    this.g = g;
    this.source = source;
    this.promise = new Promise(capture);
    this.res = capturedRes;
    this.rej = capturedRej;
  }
}

/** @internal An intrusive FIFO list of waiters (O(1) push, shift, remove). */
export class WaiterList {
  /** @internal */ head: Waiter | null = null;
  /** @internal */ tail: Waiter | null = null;
  /** @internal */ size = 0;

  /** @internal */
  push(w: Waiter): void {
    w.list = this;
    w.prev = this.tail;
    w.next = null;
    if (this.tail === null) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    this.size++;
  }

  /** @internal Removes and returns the oldest waiter. */
  shift(): Waiter | null {
    const w = this.head;
    if (w !== null) this.remove(w);
    return w;
  }

  /** @internal */
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
}

function runWaiter(w: unknown): void {
  const waiter = w as Waiter;
  if (waiter.ok) waiter.res(waiter.value);
  else waiter.rej(waiter.value);
}

function detach(w: Waiter): void {
  w.active = false;
  if (w.list !== null) w.list.remove(w);
  if (w.timer !== null) {
    w.g.hub._cancelTimer(w.timer);
    w.timer = null;
  }
  if (w.onAbort !== null) {
    w.signal!.removeEventListener("abort", w.onAbort);
    w.onAbort = null;
    w.signal = null;
  }
  const g = w.g;
  if (w.gprev === null) {
    if (g._waits === w) {
      g._waits = w.gnext;
      if (w.gnext === null && !g._isMain) g.hub._blocked--;
    }
  } else w.gprev.gnext = w.gnext;
  if (w.gnext !== null) w.gnext.gprev = w.gprev;
  w.gnext = w.gprev = null;
}

/**
 * @internal Settles an active waiter: the greenlet resumes from the hub's run
 * queue with `value` (or `value` thrown when `ok` is false). Returns false if
 * the waiter was already settled.
 */
export function _settle(w: Waiter, ok: boolean, value: unknown): boolean {
  if (!w.active) return false;
  detach(w);
  w.ok = ok;
  w.value = value;
  w.g.hub._schedule(runWaiter, w);
  return true;
}

/**
 * @internal Like {@linkcode _settle} but resumes at once; only for code that
 * already runs from the hub's run queue.
 */
export function _settleNow(w: Waiter, ok: boolean, value: unknown): boolean {
  if (!w.active) return false;
  detach(w);
  if (ok) w.res(value);
  else w.rej(value);
  return true;
}

/** @internal Drops an active waiter without ever settling it. */
export function _abandon(w: Waiter): void {
  if (w.active) detach(w);
}

function onWaitTimer(w: unknown): void {
  const waiter = w as Waiter;
  waiter.timer = null;
  if (waiter.timeoutError !== null) {
    _settle(waiter, false, waiter.timeoutError());
  } else {
    _settle(waiter, true, waiter.timeoutValue);
  }
}

/**
 * @internal Starts a blocking wait of the current greenlet on `source`.
 * The waiter is pushed on `list` (when given); on timeout the wait resolves
 * with `timeoutValue`, or rejects with `timeoutError()` when that is given.
 * A kill or Timeout already pending for the greenlet,
 * or an aborted `signal`, rejects it through the run queue instead.
 * Returns the waiter; its `promise` is what the caller returns.
 */
export function _wait(
  source: WaitSource,
  list: WaiterList | null,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  timeoutValue: unknown,
  timeoutError: (() => unknown) | null = null,
): Waiter {
  const g = _current();
  if (monitor !== null) monitor.switched(g);
  const w = new Waiter(g, source);
  if (g._hasPending) {
    const err = g._pending;
    g._pending = undefined;
    g._hasPending = false;
    g._pendingSrc = null;
    w.active = false;
    w.ok = false;
    w.value = err;
    g.hub._schedule(runWaiter, w);
    return w;
  }
  if (signal !== undefined && signal.aborted) {
    w.active = false;
    w.ok = false;
    w.value = signal.reason;
    g.hub._schedule(runWaiter, w);
    return w;
  }
  // attach to the greenlet's active waits
  const head = g._waits;
  if (head === null) {
    if (!g._isMain) {
      g.hub._blocked++;
      g.hub._noteChange();
    }
  } else {
    head.gprev = w;
    w.gnext = head;
  }
  g._waits = w;
  if (list !== null) list.push(w);
  if (timeout !== undefined && timeout !== Infinity) {
    w.timeoutValue = timeoutValue;
    w.timeoutError = timeoutError;
    w.timer = g.hub._addTimer(timeout, onWaitTimer, w);
  }
  if (signal !== undefined) {
    w.signal = signal;
    w.onAbort = () => {
      _settle(w, false, signal.reason);
    };
    signal.addEventListener("abort", w.onAbort, { once: true });
  }
  return w;
}

/**
 * @internal Throws `error` into `g` at its switch point: its active waits
 * reject with it at once (through the run queue); a greenlet that is running
 * or awaits something the hub does not own gets it at its next switch point.
 * `source` is the Timeout that fired, or null for a kill (a kill replaces a
 * pending Timeout; a Timeout never replaces a pending kill).
 */
export function _throwInto(g: Greenlet, error: unknown, source: unknown): void {
  if (g.dead) return;
  let w = g._waits;
  if (w !== null) {
    while (w !== null) {
      const next: Waiter | null = w.gnext;
      const abort = w.abort;
      _settle(w, false, error);
      if (abort !== null) {
        try {
          abort(error);
        } catch (e) {
          g.hub._reportError(g, e);
        }
      }
      w = next;
    }
    return;
  }
  if (!g._hasPending || (source === null && g._pendingSrc !== null)) {
    g._pending = error;
    g._hasPending = true;
    g._pendingSrc = source;
  }
}

/** @internal Withdraws an error thrown by `source` not yet delivered to `g`. */
export function _retractPending(g: Greenlet, source: unknown): void {
  if (g._hasPending && g._pendingSrc === source) {
    g._pending = undefined;
    g._hasPending = false;
    g._pendingSrc = null;
  }
}

const sleepSource: WaitSource = { _describeWait: () => "sleep" };

class SleepSource implements WaitSource {
  until: number;
  constructor(until: number) {
    this.until = until;
  }
  _describeWait(): string {
    return this.until === Infinity
      ? "sleep forever"
      : `sleep until ${this.until.toFixed(1)} ms`;
  }
}

class OpSource implements WaitSource {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
  _describeWait(): string {
    return this.what;
  }
}

/**
 * @internal Runs an asynchronous operation the hub does not own (a fetch, a
 * file read) as a switch point of the current greenlet: it shows in run info
 * as `what`, counts for `wait()`, and a kill or Timeout thrown into the
 * greenlet rejects it at once and calls `abort(reason)` to stop it.
 */
export function _trackOp<T>(
  what: string,
  start: () => PromiseLike<T>,
  abort: (reason: unknown) => void,
): Promise<T> {
  const w = _wait(new OpSource(what), null, undefined, undefined, undefined);
  if (!w.active) return w.promise as Promise<T>;
  const hub = w.g.hub;
  let p: PromiseLike<T>;
  try {
    p = start();
  } catch (e) {
    _settle(w, false, e);
    return w.promise as Promise<T>;
  }
  w.abort = abort;
  hub._ops++;
  const done = (ok: boolean, value: unknown): void => {
    hub._ops--;
    hub._noteChange();
    _settle(w, ok, value);
  };
  Promise.resolve(p).then((v) => done(true, v), (e) => done(false, e));
  return w.promise as Promise<T>;
}

/** @internal What the monitor needs to see (see monitor.ts). */
export interface MonitorHooks {
  /** A greenlet reached a switch point (or finished). */
  switched(g: Greenlet): void;
  /** The hub finished a drain pass. */
  drained(): void;
}

let monitor: MonitorHooks | null = null;

/** @internal Installs (or with null removes) the monitor's hooks. */
export function _setMonitorHooks(hooks: MonitorHooks | null): void {
  monitor = hooks;
}

/** @internal The monitor's hooks, if a monitor runs. */
export function _monitorHooks(): MonitorHooks | null {
  return monitor;
}

let spawnSites = false;

/** @internal Whether new greenlets record where they were spawned. */
export function _spawnSites(): boolean {
  return spawnSites;
}

/** @internal Turns recording of spawn sites on or off. */
export function _setSpawnSites(on: boolean): void {
  spawnSites = on;
}

// ---------------------------------------------------------------------------
// The current greenlet

const als = new AsyncLocalStorage<Greenlet>();

/** @internal The AsyncLocalStorage that holds the running greenlet. */
export const _als: AsyncLocalStorage<Greenlet> = als;

interface GreenletFactory {
  main(hub: Hub): Greenlet;
  spawn(
    hub: Hub,
    fn: (...args: never[]) => unknown,
    args: unknown[],
  ): Greenlet;
}

let factory: GreenletFactory | null = null;

/**
 * @internal A run-queue entry that runs user code at once: a greenlet's
 * start, a patched timer's callback. The hub runs such entries only first
 * in a drain pass, after the continuations of greenlets resumed before them.
 */
export interface UserTask {
  /** @internal */
  _runUser(): void;
}

function runUser(arg: unknown): void {
  (arg as UserTask)._runUser();
}

/** @internal Schedule with `hub._schedule(_runUser, task)`. */
export const _runUser: (arg: unknown) => void = runUser;

/** @internal Called once by greenlet.ts to break the module cycle. */
export function _registerGreenletFactory(f: GreenletFactory): void {
  factory = f;
}

function needFactory(): GreenletFactory {
  if (factory === null) {
    throw new Error(
      "Cannot create a greenlet: import gevent-ts from its entry point (mod.ts)",
    );
  }
  return factory;
}

let defaultHub: Hub | null = null;

/**
 * The hub of the running code: the hub of the current greenlet, or the
 * process-wide default hub outside any greenlet (created on first use).
 *
 * @returns The current {@linkcode Hub}.
 *
 * @example
 * ```ts
 * import { getHub } from "./mod.ts";
 * const hub = getHub();
 * console.log(typeof hub.now()); // "number"
 * ```
 */
export function getHub(): Hub {
  const g = als.getStore();
  if (g !== undefined) return g.hub;
  return defaultHub ?? (defaultHub = new Hub());
}

/** @internal The running greenlet (the hub's main outside greenlets). */
export function _current(): Greenlet {
  const g = als.getStore();
  if (g !== undefined) return g;
  return (defaultHub ?? (defaultHub = new Hub())).main;
}

/**
 * The greenlet running now, correct across any `await`. Code outside every
 * greenlet runs as `getHub().main`.
 *
 * @returns The running {@linkcode Greenlet}.
 *
 * @example
 * ```ts
 * import { getCurrent, spawn } from "./mod.ts";
 * const g = spawn(async function worker() {
 *   return getCurrent().name;
 * });
 * console.log(await g.get()); // "worker"
 * ```
 */
export function getCurrent(): Greenlet {
  return _current();
}

// ---------------------------------------------------------------------------
// Exit hook: LoopExit instead of a silent hang or exit

const hubs = new Set<WeakRef<Hub>>();
let exitHookInstalled = false;

function onLoopDry(event?: { preventDefault?: () => void }): void {
  let scheduled = false;
  for (const ref of hubs) {
    const hub = ref.deref();
    if (hub === undefined) {
      hubs.delete(ref);
      continue;
    }
    if (hub._onLoopDry()) scheduled = true;
  }
  // Deno ends the process after `beforeunload` unless it is cancelled; Node
  // goes on by itself when a `beforeExit` listener scheduled work.
  if (scheduled && typeof event?.preventDefault === "function") {
    event.preventDefault();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const g = globalThis as {
    Deno?: unknown;
    addEventListener?: (type: string, fn: (e: Event) => void) => void;
    process?: { on?: (event: string, fn: (code: number) => void) => void };
  };
  if (g.Deno !== undefined && typeof g.addEventListener === "function") {
    g.addEventListener("beforeunload", onLoopDry);
  } else if (g.process !== undefined && typeof g.process.on === "function") {
    g.process.on("beforeExit", () => onLoopDry());
  }
}

// ---------------------------------------------------------------------------
// The Hub

const SLICE_MS = 5;
const QUEUE_SLOTS = 1024;
const SLICE_BUDGET = 32;

/**
 * The event loop of gevent-ts: a FIFO run queue, a timer heap, and the
 * greenlets it runs. One default hub serves the thread ({@linkcode getHub});
 * `new Hub({ clock })` makes an isolated one.
 *
 * @example Overriding error reporting
 * ```ts
 * import { getHub, spawn } from "./mod.ts";
 * const hub = getHub();
 * const seen: unknown[] = [];
 * const original = hub.handleError;
 * hub.handleError = (_greenlet, error) => void seen.push(error);
 * await spawn(() => { throw new Error("boom"); }).join();
 * hub.handleError = original;
 * console.log(seen.length); // 1
 * ```
 */
export class Hub {
  /** The clock this hub reads time from (ms). */
  readonly clock: Clock;
  #main: Greenlet | null = null;

  // run queue: a ring of [fn, arg] pairs from #head to #tail (exclusive);
  // it doubles when full and never shrinks.
  #q: unknown[] = new Array(QUEUE_SLOTS).fill(undefined);
  #mask = QUEUE_SLOTS - 1;
  #head = 0;
  #tail = 0;
  #drainScheduled = false;
  #yieldNext = false;
  #budget = SLICE_BUDGET;
  #sliceStart = 0;

  // timers
  #timers = new TimerHeap();
  #timerSeq = 0;
  #native: unknown = null;
  #nativeDeadline = Infinity;
  #unrefCount = 0;
  #nativeRefd = true;

  // greenlet bookkeeping
  /** @internal Live spawned greenlets (not main), started or not. */
  _live = 0;
  /** @internal Live spawned greenlets with at least one active wait. */
  _blocked = 0;
  /** @internal Operations routed through the hub (patched fetch, …). */
  _ops = 0;
  /** @internal Head of the list of live greenlets, newest first. */
  _liveHead: Greenlet | null = null;
  /** @internal Next greenlet id. */
  _nextId = 1;

  // idle() and wait() waiters
  #idleList = new WaiterList();
  #quietList = new WaiterList();
  #quietTimers = 0;
  #checkArmed = false;

  /**
   * Creates an isolated hub (most code uses the default one, `getHub()`).
   *
   * @param options `clock`: where the hub reads time (ms); defaults to
   * `performance.now()`.
   */
  constructor(options: HubOptions = {}) {
    _checkOptions("create Hub", options);
    const clock = options.clock ?? realClock;
    if (clock === null || typeof clock.now !== "function") {
      throw new TypeError(
        `Cannot create Hub: clock must have a now() method, received ${
          describeValue(clock)
        }`,
      );
    }
    this.clock = clock;
    hubs.add(new WeakRef(this));
    installExitHook();
  }

  /** The greenlet that code outside every greenlet runs as. */
  get main(): Greenlet {
    return this.#main ?? (this.#main = needFactory().main(this));
  }

  /** @internal The main greenlet if it exists yet. */
  get _mainOrNull(): Greenlet | null {
    return this.#main;
  }

  /**
   * The current time of this hub's clock.
   *
   * @returns Milliseconds (origin depends on the clock; only differences count).
   */
  now(): number {
    return this.clock.now();
  }

  /**
   * Spawns a greenlet on this hub: `fn(...args)` starts the next time the hub
   * runs. See {@linkcode spawn}.
   *
   * @param fn The function to run (may be async).
   * @param args Arguments passed to `fn`.
   * @returns The new, started {@linkcode Greenlet}.
   */
  spawn<A extends unknown[], R>(
    fn: (...args: A) => R,
    ...args: A
  ): Greenlet<Awaited<R>> {
    return needFactory().spawn(
      this,
      fn as (...args: never[]) => unknown,
      args,
    ) as Greenlet<Awaited<R>>;
  }

  /**
   * Called with every greenlet that fails (ends with an error other than
   * `GreenletExit`) and every error thrown by a callback the hub runs.
   * The default prints `<Greenlet "name" #id> failed with <stack>` to stderr.
   * Assign a function to this property (or override in a subclass) to route
   * errors elsewhere. It never causes an unhandled rejection or an exit.
   *
   * @param greenlet The greenlet that failed (or whose callback failed).
   * @param error What it threw.
   */
  handleError(greenlet: Greenlet, error: unknown): void {
    const text = error instanceof Error
      ? (error.stack ?? `${error.name}: ${error.message}`)
      : String(error);
    nativeConsoleError(`${greenlet} failed with ${text}`);
  }

  /** @internal Reports through handleError, never throwing. */
  _reportError(greenlet: Greenlet, error: unknown): void {
    try {
      this.handleError(greenlet, error);
    } catch (e) {
      try {
        nativeConsoleError(`${greenlet} failed with`, error);
        nativeConsoleError("and handleError itself threw:", e);
      } catch {
        // nothing more can be done
      }
    }
  }

  /**
   * The greenlet tree of this hub, one line per greenlet under its parent:
   * `<Greenlet "name" #id>`, its state (running, waiting on what — a sleep
   * and until when, which lock, which fetch —, scheduled to start), where it
   * was spawned (when spawn sites are recorded, see `startMonitor`), and the
   * patched timers it armed. Main is the root.
   *
   * @returns The tree; an empty string when no greenlet is alive, main waits
   * on nothing and no patched timer is armed.
   */
  runInfo(): string {
    const live = this.#liveOldestFirst();
    const timers = new Map<Greenlet, string[]>();
    for (const t of this.#timers.values()) {
      const arg = t.arg as Partial<DescribedTimer> | null;
      if (arg === null || typeof arg !== "object" || !arg._describeTimer) {
        continue;
      }
      const owner = arg.g!;
      const list = timers.get(owner) ?? [];
      list.push(`${arg._describeTimer()} due at ${t.deadline.toFixed(1)} ms`);
      timers.set(owner, list);
    }
    const main = this.#main;
    if (
      live.length === 0 && timers.size === 0 &&
      (main === null || main._waits === null)
    ) return "";
    const root = this.main;
    const liveSet = new Set<Greenlet>(live);
    const children = new Map<Greenlet, Greenlet[]>();
    for (const g of live) {
      const p = g.parent !== null && liveSet.has(g.parent) ? g.parent : root;
      const list = children.get(p) ?? [];
      list.push(g);
      children.set(p, list);
    }
    const lines: string[] = [describeGreenlet(root, null)];
    const walk = (g: Greenlet, prefix: string): void => {
      const items: (string | Greenlet)[] = [
        ...(timers.get(g) ?? []).sort(),
        ...(children.get(g) ?? []),
      ];
      items.forEach((item, i) => {
        const last = i === items.length - 1;
        const branch = prefix + (last ? "└─ " : "├─ ");
        if (typeof item === "string") {
          lines.push(branch + item);
          return;
        }
        lines.push(branch + describeGreenlet(item, g));
        walk(item, prefix + (last ? "   " : "│  "));
      });
    };
    walk(root, "");
    for (const [owner, list] of timers) {
      if (owner !== root && !liveSet.has(owner)) {
        for (const text of list.sort()) {
          lines.push(`${text} (armed by ${owner}, ended)`);
        }
      }
    }
    return lines.join("\n");
  }

  /** The live greenlets, oldest first (the list keeps the newest first). */
  #liveOldestFirst(): Greenlet[] {
    const live: Greenlet[] = [];
    for (let g = this._liveHead; g !== null; g = g._lnext) live.push(g);
    return live.reverse();
  }

  // -- run queue ------------------------------------------------------------

  /** @internal Appends `fn(arg)` to the run queue. */
  _schedule(fn: (arg: unknown) => void, arg: unknown): void {
    const q = this.#q;
    const t = this.#tail;
    q[t] = fn;
    q[t + 1] = arg;
    const next = (t + 2) & this.#mask;
    this.#tail = next;
    if (next === this.#head) this.#grow();
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      if (this.#yieldNext) {
        this.#yieldNext = false;
        nativeSetImmediate(this.#drainFromImmediate);
      } else {
        nativeQueueMicrotask(this.#drain);
      }
    }
  }

  #grow(): void {
    const old = this.#q;
    const n = old.length;
    const q: unknown[] = new Array(n * 2).fill(undefined);
    let j = 0;
    for (let i = this.#head; i < n; i++) q[j++] = old[i];
    for (let i = 0; i < this.#head; i++) q[j++] = old[i];
    this.#q = q;
    this.#mask = n * 2 - 1;
    this.#head = 0;
    this.#tail = n;
  }

  #drainFromImmediate = (): void => {
    this.#sliceStart = nativeNow();
    this.#drain();
  };

  #drain = (): void => {
    let n = 0;
    let resumed = false;
    let ranUser = false;
    for (;;) {
      const h = this.#head;
      if (h === this.#tail) break;
      const q = this.#q;
      const fn = q[h] as (arg: unknown) => void;
      // Starting a greenlet runs its code at once. If this pass already
      // resumed greenlets (their continuations wait in the microtask queue),
      // let those run first: continue the pass in a later microtask.
      if (fn === runUser) {
        if (resumed) {
          this.#budget -= 1 + (n >> 4);
          nativeQueueMicrotask(this.#drain);
          return;
        }
        ranUser = true;
      } else {
        resumed = true;
      }
      const arg = q[h + 1];
      q[h] = undefined;
      q[h + 1] = undefined;
      this.#head = (h + 2) & this.#mask;
      try {
        fn(arg);
      } catch (e) {
        this._reportError(this.main, e);
      }
      // A long pass (many greenlets started at once) checks the time too.
      if ((++n & 1023) === 0 && nativeNow() - this.#sliceStart >= SLICE_MS) {
        this.#sliceStart = nativeNow();
        nativeSetImmediate(this.#drainFromImmediate);
        return;
      }
    }
    this.#drainScheduled = false;
    // User code that ran here reported its own switch points; one that
    // ended at a raw await must stay visible to the monitor's timer.
    if (monitor !== null && !ranUser) monitor.drained();
    this.#budget -= 1 + (n >> 4);
    if (this.#budget <= 0) {
      this.#budget = SLICE_BUDGET;
      const now = nativeNow();
      if (now - this.#sliceStart >= SLICE_MS) {
        this.#yieldNext = true;
        this.#sliceStart = now;
      }
    }
    if (
      (this.#quietList.size !== 0 || this.#idleList.size !== 0) &&
      !this.#checkArmed
    ) {
      this.#checkArmed = true;
      nativeSetImmediate(this.#check);
    }
  };

  /** @internal Number of entries waiting in the run queue. */
  get _queued(): number {
    return ((this.#tail - this.#head) & this.#mask) >> 1;
  }

  // -- timers ---------------------------------------------------------------

  /** @internal Arms a hub timer: `fn(arg)` runs after `ms` milliseconds. */
  _addTimer(ms: number, fn: (arg: unknown) => void, arg: unknown): Timer {
    const t = new Timer(this.clock.now() + ms, this.#timerSeq++, fn, arg);
    this.#timers.push(t);
    if (t.deadline < this.#nativeDeadline) this.#arm(t.deadline);
    else if (!this.#nativeRefd) this.#syncRef();
    return t;
  }

  /** @internal Disarms a hub timer; a no-op if it fired or was cancelled. */
  _cancelTimer(t: Timer): void {
    if (!this.#timers.remove(t)) return;
    if (!t.ref) this.#unrefCount--;
    if (this.#timers.size === 0 && this.#native !== null) {
      nativeClearTimeout(this.#native);
      this.#native = null;
      this.#nativeDeadline = Infinity;
    }
    if (this.#quietList.size !== 0) this.#armCheck();
    this.#syncRef();
  }

  /**
   * @internal Sets whether `t` keeps the process alive. The native timer is
   * unref'd while every armed hub timer is.
   */
  _setTimerRef(t: Timer, ref: boolean): void {
    if (t.ref === ref) return;
    t.ref = ref;
    if (t.index < 0) return;
    this.#unrefCount += ref ? -1 : 1;
    this.#syncRef();
  }

  #syncRef(): void {
    if (this.#native === null) return;
    const want = this.#timers.size > this.#unrefCount;
    if (want !== this.#nativeRefd) {
      this.#nativeRefd = want;
      nativeTimerRef(this.#native, want);
    }
  }

  /** @internal Number of armed hub timers. */
  get _timerCount(): number {
    return this.#timers.size;
  }

  /** @internal Armed hub timers (diagnostics). */
  get _timers(): readonly Timer[] {
    return this.#timers.values();
  }

  #arm(deadline: number): void {
    if (this.#native !== null) nativeClearTimeout(this.#native);
    this.#nativeDeadline = deadline;
    const delay = Math.max(0, Math.ceil(deadline - this.clock.now()));
    this.#native = nativeSetTimeout(this.#onNativeTimer, delay);
    this.#nativeRefd = true;
    if (this.#unrefCount !== 0) this.#syncRef();
  }

  #onNativeTimer = (): void => {
    this.#native = null;
    this.#nativeDeadline = Infinity;
    this.#sliceStart = nativeNow();
    if (monitor !== null) monitor.drained();
    const heap = this.#timers;
    const now = this.clock.now();
    for (;;) {
      const t = heap.peek();
      if (t === undefined || t.deadline > now) break;
      heap.pop();
      if (!t.ref) this.#unrefCount--;
      try {
        t.fn(t.arg);
      } catch (e) {
        this._reportError(this.main, e);
      }
    }
    const next = heap.peek();
    if (next !== undefined && this.#native === null) this.#arm(next.deadline);
    if (this.#quietList.size !== 0) this.#armCheck();
  };

  // -- idle() and wait() ----------------------------------------------------

  /** @internal Registers a waiter for idle(). */
  _waitIdle(): Promise<void> {
    const w = _wait(
      idleSource,
      this.#idleList,
      undefined,
      undefined,
      undefined,
    );
    if (w.active) this.#armCheck();
    return w.promise as Promise<void>;
  }

  /** @internal Registers a waiter for wait() with no objects. */
  _waitQuiet(timeout: number | undefined): Promise<boolean> {
    const w = _wait(quietSource, this.#quietList, undefined, undefined, false);
    if (w.active) {
      if (timeout !== undefined && timeout !== Infinity) {
        this.#quietTimers++;
        w.data = this;
        w.timer = this._addTimer(timeout, onQuietTimeout, w);
      }
      this.#armCheck();
    }
    return w.promise as Promise<boolean>;
  }

  /** @internal A wait() timed out. */
  _quietTimedOut(w: Waiter): void {
    this.#quietTimers--;
    w.timer = null;
    _settle(w, true, false);
  }

  /** @internal Something that may make the hub quiet happened. */
  _noteChange(): void {
    if (this.#quietList.size !== 0) this.#armCheck();
  }

  #armCheck(): void {
    if (this.#checkArmed) return;
    this.#checkArmed = true;
    nativeSetImmediate(this.#check);
  }

  #isQuiet(): boolean {
    return this._queued === 0 && !this.#drainScheduled &&
      this.#timers.size === this.#quietTimers && this._ops === 0 &&
      this._live === this._blocked;
  }

  #check = (): void => {
    this.#checkArmed = false;
    if (this._queued !== 0 || this.#drainScheduled) return; // re-armed by the drain
    let w: Waiter | null;
    while ((w = this.#idleList.shift()) !== null) {
      w.list = null;
      _settle(w, true, undefined);
    }
    if (this.#quietList.size !== 0 && this.#isQuiet()) this.#releaseQuiet();
  };

  #releaseQuiet(): void {
    let w: Waiter | null;
    while ((w = this.#quietList.shift()) !== null) {
      if (w.timer !== null) this.#quietTimers--;
      _settle(w, true, true);
    }
  }

  /**
   * @internal The runtime's event loop ran dry. Releases wait() callers if the
   * hub is quiet, else ends main's waits with LoopExit. Returns whether it
   * scheduled anything.
   */
  _onLoopDry(): boolean {
    // The loop is dry: run what this schedules on microtasks, not setImmediate.
    this.#yieldNext = false;
    if (this.#quietList.size !== 0 && this.#isQuiet()) {
      this.#releaseQuiet();
      return true;
    }
    const main = this.#main;
    if (main === null || main._waits === null) return false;
    const blocked: BlockedWait[] = [];
    const mainWaits = describeWaits(main);
    if (mainWaits !== null) {
      blocked.push({ greenlet: main, waitingOn: mainWaits });
    }
    for (const g of this.#liveOldestFirst()) {
      const what = describeWaits(g);
      if (what !== null) blocked.push({ greenlet: g, waitingOn: what });
    }
    const error = new LoopExit(blocked);
    _throwInto(main, error, null);
    return true;
  }
}

const idleSource: WaitSource = { _describeWait: () => "idle()" };
const quietSource: WaitSource = {
  _describeWait: () => "wait() for every greenlet to finish",
};

function onQuietTimeout(w: unknown): void {
  const waiter = w as Waiter;
  (waiter.data as Hub)._quietTimedOut(waiter);
}

function describeWaits(g: Greenlet): string | null {
  const parts: string[] = [];
  for (let w = g._waits; w !== null; w = w.gnext) {
    parts.push(w.source._describeWait());
  }
  return parts.length === 0 ? null : parts.join(" and ");
}

/** @internal A timer argument that describes itself in run info. */
export interface DescribedTimer {
  /** The greenlet that armed the timer. */
  g: Greenlet;
  /** E.g. `setTimeout(tick, 100 ms)`. */
  _describeTimer(): string;
}

function describeGreenlet(g: Greenlet, shownUnder: Greenlet | null): string {
  const waits = describeWaits(g);
  const state = g.dead
    ? "dead"
    : waits !== null
    ? `waiting on ${waits}`
    : g._state();
  const orphan = g.parent !== null && g.parent !== shownUnder && !g._isMain
    ? ` (parent ${g.parent} ended)`
    : "";
  const site = g._spawnSite === null ? "" : ` — spawned at ${g._spawnSite}`;
  return `${g} ${state}${orphan}${site}`;
}

// ---------------------------------------------------------------------------
// sleep, idle, wait, iwait

let resolvedVoid: Promise<void> | null = null;

/**
 * Suspends the current greenlet for `ms` milliseconds. `sleep(0)` (the
 * default) puts it at the tail of the run queue: everything runnable now
 * runs once before it resumes. A switch point: a kill or `Timeout` aimed at
 * the greenlet is thrown here.
 *
 * @param ms Milliseconds to sleep; 0 yields to every other runnable greenlet.
 * @returns A promise that resolves when the greenlet resumes.
 *
 * @example Two greenlets taking turns
 * ```ts
 * import { joinAll, sleep, spawn } from "./mod.ts";
 * const log: string[] = [];
 * async function f(name: string) {
 *   for (let i = 0; i < 2; i++) {
 *     log.push(`${name} ${i}`);
 *     await sleep(0);
 *   }
 * }
 * await joinAll([spawn(f, "a"), spawn(f, "b")]);
 * console.log(log); // ["a 0", "b 0", "a 1", "b 1"]
 * ```
 */
export function sleep(ms = 0): Promise<void> {
  if (ms !== 0) _checkTimeout("sleep", ms, "ms");
  const g = _current();
  if (ms === 0 && !g._hasPending) {
    if (monitor !== null) monitor.switched(g);
    const p = new Promise(capture);
    g.hub._schedule(capturedRes, undefined);
    return p as Promise<void>;
  }
  const hub = g.hub;
  const source = ms === 0 ? sleepSource : new SleepSource(hub.now() + ms);
  const w = _wait(source, null, undefined, undefined, undefined);
  if (w.active) {
    if (ms === Infinity) return w.promise as Promise<void>;
    w.timer = hub._addTimer(ms, onWaitTimer, w);
  }
  return w.promise as Promise<void>;
}

/**
 * Resolves when the hub has nothing runnable left (gevent's `idle()`):
 * every greenlet is blocked or sleeping.
 *
 * @returns A promise that resolves once the run queue is empty.
 *
 * @example
 * ```ts
 * import { idle, spawn } from "./mod.ts";
 * const g = spawn(() => 42);
 * await idle();
 * console.log(g.dead); // true
 * ```
 */
export function idle(): Promise<void> {
  return _current().hub._waitIdle();
}

/**
 * Something {@linkcode wait} and {@linkcode iwait} can wait for: greenlets,
 * and later events and async results.
 *
 * @example A greenlet is a Waitable
 * ```ts
 * import { spawn, type Waitable } from "./mod.ts";
 * const w: Waitable = spawn(() => 1);
 * await new Promise<void>((resolve) => w.rawlink(() => resolve()));
 * console.log(w.ready()); // true
 * ```
 */
export interface Waitable {
  /** Whether the object is ready (finished, set). */
  ready(): boolean;
  /**
   * Registers `callback`, run once from the hub when the object becomes ready
   * (at once, through the run queue, if it already is).
   */
  rawlink(callback: (source: this) => void): void;
  /** Removes a callback registered with `rawlink`. */
  unlink(callback: (source: this) => void): void;
}

/**
 * Options for {@linkcode wait} and {@linkcode iwait}.
 *
 * @example
 * ```ts
 * import { sleep, spawn, wait, type WaitObjectsOptions } from "./mod.ts";
 * const options: WaitObjectsOptions = { timeout: 50, count: 1 };
 * const ready = await wait([spawn(() => sleep(1)), spawn(() => sleep(5))], options);
 * console.log(ready.length); // 1
 * await wait();
 * ```
 */
export interface WaitObjectsOptions {
  /** Give up after this many milliseconds; undefined waits forever. */
  timeout?: number;
  /** Stop after this many objects became ready; defaults to all of them. */
  count?: number;
}

function checkWaitArgs(
  action: string,
  objects: unknown,
  options: WaitObjectsOptions | undefined,
): void {
  if (objects !== undefined && !isIterable(objects)) {
    throw new TypeError(
      `Cannot ${action}: objects must be an iterable of waitables, received ${
        describeValue(objects)
      }`,
    );
  }
  _checkOptions(action, options);
  _checkTimeout(action, options?.timeout);
  const count = options?.count;
  if (count !== undefined) {
    if (typeof count !== "number" || !Number.isInteger(count)) {
      throw new TypeError(
        `Cannot ${action}: count must be an integer, received ${
          describeValue(count)
        }`,
      );
    }
    if (count < 0) {
      throw new RangeError(
        `Cannot ${action}: count must be ≥ 0, received ${count}`,
      );
    }
  }
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
        describeValue(o)
      }`,
    );
  }
  return o as Waitable;
}

class ReadyQueue<T extends Waitable> implements WaitSource {
  items: T[] = [];
  waiters: WaiterList = new WaiterList();
  n: number;
  readonly cb: (o: T) => void;
  constructor(n: number) {
    this.n = n;
    this.cb = (o: T) => {
      this.items.push(o);
      const w = this.waiters.shift();
      if (w !== null) _settleNow(w, true, undefined);
    };
  }
  _describeWait(): string {
    return `iwait() of ${this.n} object${this.n === 1 ? "" : "s"}`;
  }
}

/**
 * Yields each object as it becomes ready — already-ready ones first, in the
 * order given — until `count` objects were yielded or `timeout` ms passed.
 *
 * @param objects Greenlets (or other waitables) to watch.
 * @param options `timeout` in ms for the whole iteration; `count` of objects.
 * @returns An async iterator over the objects in the order they got ready.
 *
 * @example
 * ```ts
 * import { iwait, sleep, spawn } from "./mod.ts";
 * const slow = spawn(async () => { await sleep(20); return "slow"; });
 * const fast = spawn(async () => { await sleep(10); return "fast"; });
 * for await (const g of iwait([slow, fast])) console.log(g.value); // fast, slow
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
  const hub = _current().hub;
  const deadline = timeout === undefined ? Infinity : hub.now() + timeout;
  const rq = new ReadyQueue<T>(list.length);
  for (const o of list) o.rawlink(rq.cb as (o: Waitable) => void);
  try {
    let yielded = 0;
    while (yielded < count) {
      if (rq.items.length === 0) {
        const left = deadline - hub.now();
        if (left <= 0 && deadline !== Infinity) return;
        const w = _wait(
          rq,
          rq.waiters,
          deadline === Infinity ? undefined : left,
          undefined,
          false,
        );
        const got = await w.promise;
        if (got === false) return;
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
 * @param objects Greenlets (or other waitables) to wait for.
 * @param options `timeout` in ms; `count`: return once that many are ready.
 * @returns The objects that became ready, in the order they did; with no
 * objects, `true` when the hub went quiet and `false` on timeout.
 *
 * @example
 * ```ts
 * import { sleep, spawn, wait } from "./mod.ts";
 * const a = spawn(() => sleep(10));
 * const b = spawn(() => sleep(20));
 * const ready = await wait([a, b], { count: 1 });
 * console.log(ready[0] === a); // true
 * await wait(); // until b is done too
 * ```
 */
export function wait(
  objects?: undefined,
  options?: { timeout?: number },
): Promise<boolean>;
/**
 * Waits for objects to become ready (see the overload without objects).
 *
 * @param objects Greenlets (or other waitables) to wait for.
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
  checkWaitArgs("wait", objects, options);
  if (objects === undefined) {
    return _current().hub._waitQuiet(options?.timeout);
  }
  return collect(iwaitGen(waitables("wait", objects, options), options));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const o of it) out.push(o);
  return out;
}

/** @internal A promise already resolved with undefined. */
export function _resolvedVoid(): Promise<void> {
  return resolvedVoid ?? (resolvedVoid = Promise.resolve());
}
