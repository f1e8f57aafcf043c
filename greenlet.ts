/**
 * Greenlets: functions run cooperatively by the hub, with gevent's
 * lifecycle — spawn, join, get, kill, links — and `joinAll`/`killAll`.
 *
 * @module
 */

import { nativeQueueMicrotask } from "./_native.ts";
import type { Timer } from "./_timer_heap.ts";
import {
  _abandon,
  _als,
  _checkOptions,
  _checkTimeout,
  _current,
  _describe,
  _monitorHooks,
  _registerGreenletFactory,
  _resolvedVoid,
  _runUser,
  _settleNow,
  _spawnSites,
  _throwInto,
  _wait,
  type Hub,
  type Waitable,
  type Waiter,
  WaiterList,
  type WaitSource,
} from "./hub.ts";
import { Timeout } from "./timeout.ts";

/**
 * The error `kill()` throws into a greenlet by default. A greenlet that ends
 * with it counts as successful, and its `value` is the `GreenletExit`.
 *
 * @example
 * ```ts
 * import { GreenletExit, sleep, spawn } from "./mod.ts";
 * const g = spawn(() => sleep(1000));
 * await g.kill();
 * console.log(g.successful(), g.value instanceof GreenletExit); // true true
 * ```
 */
export class GreenletExit extends Error {
  /**
   * Creates the error; `kill()` makes one when not given another.
   *
   * @param message The error message; defaults to "GreenletExit".
   */
  constructor(message = "GreenletExit") {
    super(message);
    this.name = "GreenletExit";
  }
}

/**
 * Options for {@linkcode Greenlet.kill}.
 *
 * @example
 * ```ts
 * import { type KillOptions, sleep, spawn } from "./mod.ts";
 * const g = spawn(() => sleep(1000));
 * const options: KillOptions = { block: true, timeout: 100 };
 * await g.kill(undefined, options);
 * console.log(g.dead); // true
 * ```
 */
export interface KillOptions {
  /** Wait for the greenlet to die (default true). */
  block?: boolean;
  /** With `block`, wait at most this many milliseconds. */
  timeout?: number;
}

/**
 * Options for {@linkcode Greenlet.get}.
 *
 * @example
 * ```ts
 * import { type GetOptions, spawn } from "./mod.ts";
 * const options: GetOptions = { timeout: 100 };
 * console.log(await spawn(() => "ok").get(options)); // "ok"
 * ```
 */
export interface GetOptions {
  /** Throw `Timeout` if not ready within this many milliseconds. */
  timeout?: number;
}

const LINK_RAW = 0;
const LINK_ANY = 1;
const LINK_VALUE = 2;
const LINK_EXCEPTION = 3;

interface Link {
  cb: (g: never) => void;
  kind: number;
}

let constructingMainFor: Hub | null = null;

function noopFn(): void {}

/**
 * A function run cooperatively by the hub. Create one with
 * {@linkcode spawn} (or `new Greenlet(fn, ...args)` and `start()`); it
 * starts the next time the hub runs, never synchronously.
 *
 * @typeParam T What the function returns (awaited).
 *
 * @example
 * ```ts
 * import { Greenlet } from "./mod.ts";
 * const g = new Greenlet((a: number, b: number) => a + b, 2, 3);
 * g.start();
 * console.log(await g.get()); // 5
 * ```
 */
export class Greenlet<T = unknown> implements Waitable {
  /** The hub that runs this greenlet. */
  readonly hub: Hub;
  /** A small increasing integer, unique per hub (main is 0). */
  readonly id: number;
  /** A name for messages; defaults to the function's name. */
  name: string;
  /** The arguments the function is called with. */
  readonly args: readonly unknown[];
  /** The greenlet that created this one (null for main). */
  readonly parent: Greenlet | null;
  /** True from `start()`/`spawn()` on, before the function first runs. */
  started = false;
  /** True once the function has finished (or the greenlet was killed). */
  dead = false;
  /**
   * What the function returned, once it finished successfully; the
   * `GreenletExit` that ended it, if it was killed (as in gevent).
   */
  value: T | GreenletExit | undefined = undefined;
  /** What the function threw, once it failed. */
  exception: unknown = undefined;

  /** @internal */ _fn: (...args: never[]) => unknown;
  /** @internal */ _failed = false;
  /** @internal */ _isMain = false;
  /** @internal */ _runStarted = false;
  /** @internal */ _startTimer: Timer | null = null;
  /** @internal */ _links: Link[] | null = null;
  /** @internal */ _joiners: WaiterList | null = null;
  /** @internal */ _notifyScheduled = false;
  /** @internal */ _waits: Waiter | null = null;
  /** @internal */ _hasPending = false;
  /** @internal */ _pending: unknown = undefined;
  /** @internal */ _pendingSrc: unknown = null;
  /** @internal */ _lnext: Greenlet | null = null;
  /** @internal */ _lprev: Greenlet | null = null;
  /** @internal */ _ac: AbortController | null = null;
  /** @internal */ _killReason: unknown = undefined;
  /** @internal */ _killed = false;
  /** @internal In the hub's list of live greenlets (started, not dead). */
  _inLive = false;
  /** @internal Where it was spawned, when spawn sites are recorded. */
  _spawnSite: string | null = null;

  /**
   * Creates a greenlet that is not started yet; call `start()` or
   * `startLater(ms)`.
   *
   * @param fn The function to run (may be async); its awaited result is
   * `value`.
   * @param args Arguments passed to `fn`.
   */
  constructor(
    fn: (...args: never[]) => T | PromiseLike<T>,
    ...args: unknown[]
  ) {
    const mainHub = constructingMainFor;
    if (mainHub !== null) {
      constructingMainFor = null;
      this.hub = mainHub;
      this.id = 0;
      this.name = "main";
      this.args = [];
      this.parent = null;
      this._fn = noopFn;
      this._isMain = true;
      this.started = true;
      this._runStarted = true;
      return;
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot spawn: fn must be a function, received ${_describe(fn)}`,
      );
    }
    const parent = _current();
    const hub = parent.hub;
    this.hub = hub;
    this.id = hub._nextId++;
    this.name = fn.name || `Greenlet-${this.id}`;
    this.args = args;
    this.parent = parent;
    this._fn = fn;
    if (_spawnSites()) this._spawnSite = callerSite(new Error().stack);
  }

  /**
   * An AbortSignal that `kill()` aborts at once, with the kill's error as
   * its reason. Pass it to APIs that accept one (e.g. `fetch`), so a kill
   * stops them too. A `Timeout` does not abort it.
   */
  get signal(): AbortSignal {
    let ac = this._ac;
    if (ac === null) {
      ac = this._ac = new AbortController();
      if (this._killed) ac.abort(this._killReason);
    }
    return ac.signal;
  }

  /** Whether the greenlet has finished (gevent's `ready()`). */
  ready(): boolean {
    return this.dead;
  }

  /** Whether it finished without an error (`GreenletExit` counts as success). */
  successful(): boolean {
    return this.dead && !this._failed;
  }

  /** `<Greenlet "name" #id>`. */
  toString(): string {
    return `<Greenlet "${this.name}" #${this.id}>`;
  }

  /**
   * Schedules the greenlet to run the next time the hub runs. A no-op if it
   * was started already.
   */
  start(): void {
    if (this.started || this.dead) return;
    this.#begin();
    this.hub._schedule(_runUser, this);
  }

  /**
   * Schedules the greenlet to start after `ms` milliseconds. A no-op if it
   * was started already.
   *
   * @param ms Milliseconds to wait before the function runs.
   */
  startLater(ms: number): void {
    _checkTimeout("start greenlet later", ms, "ms");
    if (this.started || this.dead) return;
    this.#begin();
    this._startTimer = this.hub._addTimer(ms, startFromTimer, this);
  }

  #begin(): void {
    this.started = true;
    this._inLive = true;
    const hub = this.hub;
    hub._live++;
    const head = hub._liveHead;
    this._lnext = head;
    if (head !== null) head._lprev = this;
    hub._liveHead = this;
  }

  /**
   * @internal Runs the function in the greenlet's context. The hub calls it
   * from its run queue, only first in a drain pass, so that the
   * continuations of greenlets resumed before it run first.
   */
  _runUser(): void {
    if (!this.dead) _als.run(this, runBody, this);
  }

  /** @internal For waits on this greenlet (join). */
  _describeWait(): string {
    return `join of ${this}`;
  }

  /** @internal State for run info. */
  _state(): string {
    if (this.dead) return "dead";
    if (!this.started) return "not started";
    if (!this._runStarted) return "scheduled to start";
    return "running";
  }

  /**
   * Waits until the greenlet has finished, or `timeout` ms passed. Never
   * throws the greenlet's error (use `get()` for that).
   *
   * @param timeout Milliseconds to wait at most; undefined waits forever.
   * @returns A promise that resolves when it finished or the time is up.
   */
  join(timeout?: number): Promise<void> {
    _checkTimeout("join greenlet", timeout);
    if (this.dead && !_current()._hasPending) return _resolvedVoid();
    const w = _wait(
      this,
      this._joiners ?? (this._joiners = new WaiterList()),
      timeout,
      undefined,
      undefined,
    );
    return w.promise as Promise<void>;
  }

  /**
   * The greenlet's result: its value, or its error thrown. A greenlet that
   * ended by `GreenletExit` resolves with that `GreenletExit`, as in gevent.
   *
   * @param options `timeout`: milliseconds to wait at most; then it throws
   * `Timeout`.
   * @returns A promise of the function's value.
   */
  get(options?: GetOptions): Promise<T> {
    _checkOptions("get greenlet result", options);
    const timeout = options?.timeout;
    _checkTimeout("get greenlet result", timeout);
    if (this.dead) return this.#result();
    return this.join(timeout).then(() => {
      if (!this.dead) throw new Timeout(timeout);
      return this.#result();
    });
  }

  #result(): Promise<T> {
    return this._failed
      ? Promise.reject(this.exception)
      : Promise.resolve(this.value as T);
  }

  /**
   * Throws `error` into the greenlet at its switch point and aborts its
   * `signal` at once with the same reason. A greenlet that has not started
   * never runs. With `block` (the default) waits until it died, at most
   * `timeout` ms.
   *
   * @param error What to throw; defaults to a new {@linkcode GreenletExit}.
   * @param options `block` (default true) and `timeout` in milliseconds.
   * @returns A promise that resolves when the greenlet is dead (or at once
   * without `block`).
   */
  kill(error?: unknown, options?: KillOptions): Promise<void> {
    _checkOptions("kill greenlet", options);
    const timeout = options?.timeout;
    _checkTimeout("kill greenlet", timeout);
    const block = options?.block ?? true;
    if (this.dead || this._isMain) return _resolvedVoid();
    const err = error === undefined ? new GreenletExit() : error;
    if (!this._killed) {
      this._killed = true;
      this._killReason = err;
      if (this._ac !== null) this._ac.abort(err);
    }
    if (!this._runStarted) {
      _finish(this, false, err);
      return _resolvedVoid();
    }
    _throwInto(this, err, null);
    return block ? this.join(timeout) : _resolvedVoid();
  }

  /**
   * Calls `callback(greenlet)` once when the greenlet finishes, however it
   * ends (at once, from the hub, if it already has).
   *
   * @param callback Called with this greenlet.
   */
  link(callback: (greenlet: this) => void): void {
    this.#addLink(callback, LINK_ANY, "link");
  }

  /**
   * Like `link`, but only if the greenlet finishes successfully.
   *
   * @param callback Called with this greenlet.
   */
  linkValue(callback: (greenlet: this) => void): void {
    this.#addLink(callback, LINK_VALUE, "linkValue");
  }

  /**
   * Like `link`, but only if the greenlet fails.
   *
   * @param callback Called with this greenlet.
   */
  linkException(callback: (greenlet: this) => void): void {
    this.#addLink(callback, LINK_EXCEPTION, "linkException");
  }

  /**
   * Like `link`, but `callback` runs inside the hub's run queue rather than
   * as a task of its own (gevent's `rawlink`). It must not throw or block.
   *
   * @param callback Called with this greenlet.
   */
  rawlink(callback: (greenlet: this) => void): void {
    this.#addLink(callback, LINK_RAW, "rawlink");
  }

  /**
   * Removes a callback added by `link`, `linkValue`, `linkException` or
   * `rawlink` (every registration of it).
   *
   * @param callback The callback to remove.
   */
  unlink(callback: (greenlet: this) => void): void {
    const links = this._links;
    if (links === null) return;
    for (let i = links.length - 1; i >= 0; i--) {
      if (links[i].cb === callback) links.splice(i, 1);
    }
  }

  #addLink(cb: (g: this) => void, kind: number, name: string): void {
    if (typeof cb !== "function") {
      throw new TypeError(
        `Cannot ${name}: callback must be a function, received ${
          _describe(cb)
        }`,
      );
    }
    (this._links ?? (this._links = [])).push({
      cb: cb as (g: never) => void,
      kind,
    });
    if (this.dead) scheduleNotify(this);
  }
}

function startFromTimer(arg: unknown): void {
  const g = arg as Greenlet;
  g._startTimer = null;
  if (!g.dead) g.hub._schedule(_runUser, g);
}

function runBody(arg: unknown): void {
  const g = arg as Greenlet;
  if (g.dead) return;
  g._runStarted = true;
  let r: unknown;
  try {
    r = (g._fn as (...args: unknown[]) => unknown).apply(
      undefined,
      g.args as unknown[],
    );
  } catch (e) {
    _finish(g, false, e);
    return;
  }
  if (
    r !== null && (typeof r === "object" || typeof r === "function") &&
    typeof (r as PromiseLike<unknown>).then === "function"
  ) {
    settleBody(g, r as PromiseLike<unknown>);
  } else {
    _finish(g, true, r);
  }
}

async function settleBody(g: Greenlet, r: PromiseLike<unknown>): Promise<void> {
  let ok = true;
  let v: unknown;
  try {
    v = await r;
  } catch (e) {
    ok = false;
    v = e;
  }
  _finish(g, ok, v);
}

/**
 * Frames that are not the user's: gevent-ts's sources, the npm build's files
 * (the ESM chunk and the CJS core hold the library's code; the entry files
 * only re-export it), and the runtime's own (`node:…`, `ext:…`, e.g. the
 * AsyncLocalStorage.run that Hub#spawn goes through).
 */
const INTERNAL_FRAME =
  /[/\\](greenlet|hub|timeout|lock|mod)\.ts:|[/\\]_chunks[/\\]chunk-[\w-]+\.js:|[/\\]_core\.cjs:|[( ](node|ext):[^)]*\)?\s*$|^\s*at (new )?(Greenlet|Hub\.spawn|spawn|spawnLater)\b/;

/** The first stack frame outside gevent-ts: `file:line:col` (or the frame). */
function callerSite(stack: string | undefined): string | null {
  if (stack === undefined) return null;
  const frames = stack.split("\n").slice(1);
  for (const frame of frames) {
    if (INTERNAL_FRAME.test(frame)) continue;
    const m = frame.match(/\(([^()]+)\)\s*$/) ?? frame.match(/at (.+)$/);
    return m ? m[1].trim() : frame.trim();
  }
  return null;
}

/** Ends a greenlet: records its result and notifies its links. */
function _finish(g: Greenlet, ok: boolean, v: unknown): void {
  if (g.dead) return;
  g.dead = true;
  const monitor = _monitorHooks();
  if (monitor !== null) monitor.switched(g);
  const hub = g.hub;
  let w = g._waits;
  while (w !== null) {
    const next: Waiter | null = w.gnext;
    _abandon(w);
    w = next;
  }
  g._hasPending = false;
  g._pending = undefined;
  g._pendingSrc = null;
  if (g._startTimer !== null) {
    hub._cancelTimer(g._startTimer);
    g._startTimer = null;
  }
  if (g._inLive) {
    g._inLive = false;
    hub._live--;
    if (g._lprev === null) hub._liveHead = g._lnext;
    else g._lprev._lnext = g._lnext;
    if (g._lnext !== null) g._lnext._lprev = g._lprev;
    g._lnext = g._lprev = null;
  }
  if (ok || v instanceof GreenletExit) {
    g.value = v;
  } else {
    g.exception = v;
    g._failed = true;
  }
  if (g._joiners !== null || g._links !== null) scheduleNotify(g);
  hub._noteChange();
  if (g._failed) hub._reportError(g, v);
}

function scheduleNotify(g: Greenlet): void {
  if (g._notifyScheduled) return;
  g._notifyScheduled = true;
  g.hub._schedule(notifyLinks, g);
}

function notifyLinks(arg: unknown): void {
  const g = arg as Greenlet;
  g._notifyScheduled = false;
  const joiners = g._joiners;
  if (joiners !== null) {
    let w: Waiter | null;
    while ((w = joiners.shift()) !== null) {
      w.list = null;
      _settleNow(w, true, undefined);
    }
  }
  const links = g._links;
  if (links === null) return;
  g._links = null;
  const ok = !g._failed;
  for (const { cb, kind } of links) {
    if (kind === LINK_RAW) {
      try {
        (cb as (g: Greenlet) => void)(g);
      } catch (e) {
        g.hub._reportError(g, e);
      }
    } else if (
      kind === LINK_ANY || (kind === LINK_VALUE) === ok
    ) {
      _als.run(g.hub.main, queueLinkCall, cb as (g: Greenlet) => void, g);
    }
  }
}

function queueLinkCall(cb: (g: Greenlet) => void, g: Greenlet): void {
  nativeQueueMicrotask(() => {
    try {
      cb(g);
    } catch (e) {
      g.hub._reportError(g, e);
    }
  });
}

_registerGreenletFactory({
  main(hub: Hub): Greenlet {
    constructingMainFor = hub;
    return new Greenlet(noopFn);
  },
  spawn(hub: Hub, fn: (...args: never[]) => unknown, args: unknown[]) {
    const g = _als.run(hub.main, () => new Greenlet(fn, ...args));
    g.start();
    return g;
  },
});

/**
 * Creates a greenlet running `fn(...args)` and starts it: it runs the next
 * time the hub runs (when the caller reaches a switch point or its
 * synchronous code ends), never synchronously. Greenlets start in spawn
 * order.
 *
 * @param fn The function to run (may be async).
 * @param args Arguments passed to `fn`.
 * @returns The started {@linkcode Greenlet}, typed by `fn`'s awaited result.
 *
 * @example
 * ```ts
 * import { spawn } from "./mod.ts";
 * const g = spawn(async (x: number) => x * 2, 21);
 * console.log(await g.get()); // 42
 * ```
 */
export function spawn<A extends unknown[], R>(
  fn: (...args: A) => R,
  ...args: A
): Greenlet<Awaited<R>> {
  const g = new Greenlet<Awaited<R>>(
    fn as unknown as (...args: never[]) => Awaited<R>,
    ...args,
  );
  g.start();
  return g;
}

/**
 * Like {@linkcode spawn}, but the function starts after `ms` milliseconds.
 *
 * @param ms Milliseconds to wait before starting.
 * @param fn The function to run (may be async).
 * @param args Arguments passed to `fn`.
 * @returns The greenlet, started (scheduled) but not yet running.
 *
 * @example
 * ```ts
 * import { spawnLater } from "./mod.ts";
 * const g = spawnLater(10, () => "later");
 * console.log(await g.get()); // "later"
 * ```
 */
export function spawnLater<A extends unknown[], R>(
  ms: number,
  fn: (...args: A) => R,
  ...args: A
): Greenlet<Awaited<R>> {
  _checkTimeout("spawnLater", ms, "ms");
  const g = new Greenlet<Awaited<R>>(
    fn as unknown as (...args: never[]) => Awaited<R>,
    ...args,
  );
  g.startLater(ms);
  return g;
}

/**
 * Options for {@linkcode joinAll}.
 *
 * @example
 * ```ts
 * import { joinAll, type JoinAllOptions, sleep, spawn } from "./mod.ts";
 * const options: JoinAllOptions = { timeout: 50, raiseError: true, count: 1 };
 * const gs = [spawn(() => sleep(1)), spawn(() => sleep(5))];
 * console.log((await joinAll(gs, options)).length); // 1
 * await joinAll(gs);
 * ```
 */
export interface JoinAllOptions {
  /** Return what finished after this many milliseconds (never rejects). */
  timeout?: number;
  /** Reject with the first failure, in completion order. */
  raiseError?: boolean;
  /** Return once this many greenlets finished. */
  count?: number;
}

function checkGreenlets(action: string, greenlets: unknown): Greenlet[] {
  if (
    greenlets === null || typeof greenlets !== "object" ||
    typeof (greenlets as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: greenlets must be an iterable of Greenlets, received ${
        _describe(greenlets)
      }`,
    );
  }
  const list: Greenlet[] = [];
  for (const g of greenlets as Iterable<unknown>) {
    if (!(g instanceof Greenlet)) {
      throw new TypeError(
        `Cannot ${action}: every item must be a Greenlet, received ${
          _describe(g)
        }`,
      );
    }
    list.push(g);
  }
  return list;
}

class JoinAll implements WaitSource {
  done: Greenlet[] = [];
  count: number;
  raiseError: boolean;
  total: number;
  w: Waiter | null = null;
  failed = false;
  readonly cb: (g: Greenlet) => void;
  constructor(total: number, count: number, raiseError: boolean) {
    this.total = total;
    this.count = count;
    this.raiseError = raiseError;
    this.cb = (g: Greenlet) => {
      if (this.failed) return;
      this.done.push(g);
      if (this.raiseError && g._failed) {
        this.failed = true;
        if (this.w !== null) _settleNow(this.w, false, g.exception);
      } else if (this.done.length >= this.count && this.w !== null) {
        _settleNow(this.w, true, this.done);
      }
    };
  }
  _describeWait(): string {
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
 * import { joinAll, sleep, spawn } from "./mod.ts";
 * const a = spawn(() => sleep(20));
 * const b = spawn(() => sleep(10));
 * const done = await joinAll([a, b]);
 * console.log(done[0] === b); // true
 * ```
 */
export function joinAll(
  greenlets: Iterable<Greenlet>,
  options?: JoinAllOptions,
): Promise<Greenlet[]> {
  const list = checkGreenlets("joinAll", greenlets);
  _checkOptions("joinAll", options);
  const timeout = options?.timeout;
  _checkTimeout("joinAll", timeout);
  const count = options?.count;
  if (count !== undefined && (typeof count !== "number" || !(count >= 0))) {
    throw new RangeError(
      `Cannot joinAll: count must be a number ≥ 0, received ${
        _describe(count)
      }`,
    );
  }
  const raiseError = options?.raiseError ?? false;
  const j = new JoinAll(
    list.length,
    Math.min(count ?? list.length, list.length),
    raiseError,
  );
  for (const g of list) {
    if (g.dead) j.cb(g);
  }
  if (j.failed) {
    return Promise.reject(j.done[j.done.length - 1].exception);
  }
  if (j.done.length >= j.count && !_current()._hasPending) {
    return Promise.resolve(j.done.slice(0, j.count));
  }
  const w = _wait(j, null, timeout, undefined, null);
  if (!w.active) return w.promise as Promise<Greenlet[]>;
  j.w = w;
  for (const g of list) {
    if (!g.dead) g.rawlink(j.cb);
  }
  return (w.promise as Promise<Greenlet[] | null>).then(
    (v) => {
      for (const g of list) g.unlink(j.cb);
      return v ?? j.done.slice();
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
 * import { GreenletExit, killAll, type KillAllOptions, sleep, spawn } from "./mod.ts";
 * const options: KillAllOptions = { error: new GreenletExit("shutdown"), timeout: 100 };
 * await killAll([spawn(() => sleep(1000))], options);
 * ```
 */
export interface KillAllOptions {
  /** What to throw into each greenlet; defaults to a new `GreenletExit`. */
  error?: unknown;
  /** Wait for them to die (default true). */
  block?: boolean;
  /** With `block`, wait at most this many milliseconds. */
  timeout?: number;
}

/**
 * Kills every greenlet (see {@linkcode Greenlet.kill}) and, with `block`
 * (the default), waits until all of them died, at most `timeout` ms.
 *
 * @param greenlets The greenlets to kill.
 * @param options `error` to throw, `block`, and `timeout` in milliseconds.
 * @returns A promise that resolves once they are dead (or at once without
 * `block`).
 *
 * @example
 * ```ts
 * import { killAll, sleep, spawn } from "./mod.ts";
 * const gs = [spawn(() => sleep(1000)), spawn(() => sleep(1000))];
 * await killAll(gs);
 * console.log(gs.every((g) => g.dead)); // true
 * ```
 */
export function killAll(
  greenlets: Iterable<Greenlet>,
  options?: KillAllOptions,
): Promise<void> {
  const list = checkGreenlets("killAll", greenlets);
  _checkOptions("killAll", options);
  const timeout = options?.timeout;
  _checkTimeout("killAll", timeout);
  const block = options?.block ?? true;
  for (const g of list) {
    g.kill(
      options?.error === undefined ? new GreenletExit() : options.error,
      { block: false },
    );
  }
  if (!block) return _resolvedVoid();
  return joinAll(list, { timeout }).then(() => undefined);
}
