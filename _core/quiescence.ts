/**
 * Owns quiescence: `idle()`, `wait()` without objects (nothing runnable, no
 * hub timer, no tracked operation, every greenlet blocked), and noticing
 * that the runtime's event loop ran dry (the LoopExit hook).
 *
 * @module
 */

import { nativeSetImmediate } from "./native.ts";
import { actFor } from "./hooks.ts";
import type { RunQueue } from "./run_queue.ts";
import type { Timers } from "./timers.ts";
import type { Scope } from "./scope.ts";
import { settle, type Waiter, WaiterList, waitOn } from "./waiter.ts";

const idleSource = { toString: () => "idle()" };
const quietSource = {
  toString: () => "wait() for every greenlet to finish",
};

/** The quiescence of one hub. */
export class Quiescence {
  /** Live spawned greenlets (not main), started or not. */
  live = 0;
  /** Live spawned greenlets with at least one active wait. */
  #blocked = 0;
  /** Operations routed through the hub (patched fetch, …). */
  #ops = 0;
  readonly #queue: RunQueue;
  readonly #timers: Timers;
  readonly #idle = new WaiterList();
  readonly #quiet = new WaiterList();
  #quietTimers = 0;
  #checkArmed = false;
  /**
   * Told of every drained run queue and every tracked operation that starts
   * or ends: the moments the hub may have settled (testing.ts's virtual
   * clock); null when nobody listens.
   */
  watcher: (() => void) | null = null;

  constructor(queue: RunQueue, timers: Timers) {
    this.#queue = queue;
    this.#timers = timers;
  }

  /** A spawned greenlet started (+1) or stopped (-1) waiting. */
  noteBlocked(delta: number): void {
    this.#blocked += delta;
    if (delta > 0) this.changed();
  }

  /** A tracked operation started (+1) or ended (-1). */
  noteOp(delta: number): void {
    this.#ops += delta;
    if (delta < 0) this.changed();
    if (this.watcher !== null) this.watcher();
  }

  /** Whether a tracked operation is pending. */
  get tracking(): boolean {
    return this.#ops !== 0;
  }

  /** Whether something is runnable: queued, or a drain on its way. */
  get runnable(): boolean {
    return this.#queue.busy;
  }

  /** Something happened that may make the hub quiet. */
  changed(): void {
    if (this.#quiet.size !== 0) this.#armCheck();
  }

  /** The run queue drained. */
  drained(): void {
    if (this.#quiet.size !== 0 || this.#idle.size !== 0) this.#armCheck();
    if (this.watcher !== null) this.watcher();
  }

  /** `idle()` in `scope`. */
  waitIdle(scope: Scope): Promise<void> {
    const w = waitOn(scope, idleSource, { list: this.#idle });
    if (w.active) this.#armCheck();
    return w.promise as Promise<void>;
  }

  /** `wait()` without objects: true once quiet, false after `timeout` ms. */
  waitQuiet(scope: Scope, timeout: number | undefined): Promise<boolean> {
    const w = waitOn(scope, quietSource, {
      list: this.#quiet,
      timeout,
      timeoutValue: false,
      onTimeout: this.#quietTimedOut,
    });
    if (w.active) {
      // its own timer does not count as one of the hub's
      if (w.timer !== null) this.#quietTimers++;
      this.#armCheck();
    }
    return w.promise as Promise<boolean>;
  }

  #quietTimedOut = (): void => {
    this.#quietTimers--;
  };

  #armCheck(): void {
    if (this.#checkArmed) return;
    this.#checkArmed = true;
    nativeSetImmediate(this.#check);
  }

  #isQuiet(): boolean {
    return !this.#queue.busy && this.#ops === 0 &&
      this.#timers.size === this.#quietTimers && this.live === this.#blocked;
  }

  #check = (): void => {
    this.#checkArmed = false;
    if (this.#queue.busy) return; // re-armed when the queue drains
    // what it settles, it settles for no greenlet
    actFor("hub", Quiescence.#release, this, undefined);
  };

  /** Releases `idle()` callers, and `wait()` callers if the hub is quiet. */
  static #release(quiet: Quiescence): void {
    quiet.#idle.settleAll(undefined, false);
    if (quiet.#quiet.size !== 0 && quiet.#isQuiet()) quiet.#releaseQuiet();
  }

  #releaseQuiet(): void {
    let w: Waiter | null;
    while ((w = this.#quiet.shift()) !== null) {
      if (w.timer !== null) this.#quietTimers--;
      settle(w, true, true);
    }
  }

  /**
   * The event loop ran dry: releases `wait()` callers if the hub is quiet.
   * Returns whether it did.
   */
  releaseIfQuiet(): boolean {
    if (this.#quiet.size === 0 || !this.#isQuiet()) return false;
    this.#releaseQuiet();
    return true;
  }
}

/** Something told when the runtime's event loop has nothing left to do. */
export interface LoopDryWatcher {
  /** Returns whether it scheduled work (the loop must go on). */
  onLoopDry(): boolean;
}

const watchers = new Set<WeakRef<LoopDryWatcher>>();
let hookInstalled = false;

function onLoopDry(event?: { preventDefault?: () => void }): void {
  let scheduled = false;
  for (const ref of watchers) {
    const w = ref.deref();
    if (w === undefined) {
      watchers.delete(ref);
      continue;
    }
    if (w.onLoopDry()) scheduled = true;
  }
  // Deno ends the process after `beforeunload` unless it is cancelled; Node
  // goes on by itself when a `beforeExit` listener scheduled work.
  if (scheduled && typeof event?.preventDefault === "function") {
    event.preventDefault();
  }
}

/**
 * Calls `w.onLoopDry()` whenever the event loop runs dry (Node's
 * `beforeExit`, Deno's `beforeunload`), for as long as `w` is alive.
 */
export function watchLoopDry(w: LoopDryWatcher): void {
  watchers.add(new WeakRef(w));
  if (hookInstalled) return;
  hookInstalled = true;
  const g = globalThis as {
    Deno?: unknown | undefined;
    addEventListener?: (
      type: string,
      fn: (e: Event) => void,
    ) => void | undefined;
    process?:
      | ({ on?: (event: string, fn: (code: number) => void) => void })
      | undefined;
  };
  if (g.Deno !== undefined && typeof g.addEventListener === "function") {
    g.addEventListener("beforeunload", onLoopDry);
  } else if (g.process !== undefined && typeof g.process.on === "function") {
    g.process.on("beforeExit", () => onLoopDry());
  }
}
