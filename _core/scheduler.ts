/**
 * Owns the Scheduler port: what scopes, waits and delivery need from a hub
 * (the hub core implements it), so that the waiting layer never imports the
 * hub.
 *
 * @module
 */

import type { Timer } from "./timer_heap.ts";
import type { Scope, Task } from "./scope.ts";
import type { Site } from "../_util/mod.ts";

/** What the waiting layer needs from a hub (implemented by the hub core). */
export interface Scheduler {
  /** The hub's main task: code outside greenlets, and link callbacks. */
  readonly main: Task;
  /** The hub's time in milliseconds. */
  now(): number;
  /**
   * Where main's latest first wait started (when recorded): the frames a
   * `LoopExit` thrown into it shows.
   */
  mainWaitSite: Site | null;
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
