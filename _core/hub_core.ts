/**
 * Owns the wiring inside one hub: its run queue, timers and quiescence, its
 * main task, the list of live greenlets and error routing. The public `Hub`
 * (hub.ts) is a facade over one of these.
 *
 * @module
 */

import { nativeConsoleError } from "./native.ts";
import type { Timer } from "./timer_heap.ts";
import { RunQueue } from "./run_queue.ts";
import { type TimerHost, Timers } from "./timers.ts";
import { Quiescence } from "./quiescence.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Site } from "../_util/mod.ts";
import { DEAD, RUNNING, type Scope, Task } from "./scope.ts";

/**
 * What the core needs of its public hub: the overridable error handler, and
 * the clock (a clock made by {@linkcode coreOnHost} brings its own timers).
 */
export interface HubFacade {
  /** `hub.handleError(greenlet, error)`. */
  handleError(greenlet: never, error: unknown): void;
  /** `hub.clock`, set before its core is made. */
  readonly clock: object;
}

/** How greenlet.ts makes greenlets for the hub (registered at its load). */
export interface GreenletFactory {
  /** The public Greenlet of a hub's main task. */
  main(task: Task): object;
  /** Spawns `fn(...args)` as a child of `parent`; `entry` is the public function called. */
  spawn(
    parent: Task,
    fn: (...args: never[]) => unknown,
    args: unknown[],
    entry: (...args: never[]) => unknown,
  ): object;
}

let factory: GreenletFactory | null = null;

/** Called once by greenlet.ts. */
export function registerGreenletFactory(f: GreenletFactory): void {
  factory = f;
}

/** The factory; throws when greenlet.ts was never loaded. */
export function greenletFactory(): GreenletFactory {
  if (factory === null) {
    throw new Error(
      "Cannot create a greenlet: import gevent-ts from its entry point (mod.ts)",
    );
  }
  return factory;
}

const cores = new WeakMap<object, HubCore>();
/** The clocks {@linkcode coreOnHost} made, each with the timer host it reads. */
const hostOfClock = new WeakMap<object, TimerHost>();

/**
 * Makes a hub with `make(clock)` whose timers run on `host` instead of the
 * runtime's (testing.ts's virtual clock); returns the hub's core. `clock`
 * reads `host`'s time, and brings `host` to the core of the hub made with
 * it.
 */
export function coreOnHost(
  host: TimerHost,
  make: (clock: { now(): number }) => object,
): HubCore {
  const clock = { now: () => host.now() };
  hostOfClock.set(clock, host);
  return cores.get(make(clock))!;
}

/** The inside of one hub. */
export class HubCore implements Scheduler {
  readonly hub: HubFacade;
  readonly queue: RunQueue;
  readonly timers: Timers;
  readonly quiet: Quiescence;
  readonly main: Task;
  /** Next greenlet id. */
  nextId = 1;
  mainWaitSite: Site | null = null;
  /**
   * Its clock stopped for good (a finished `withVirtualTime`): what still
   * waits on it stays pending, and the loop-dry hook leaves it alone.
   */
  frozen = false;
  #liveHead: Task | null = null;

  /**
   * Whether timers armed in one pass count from the pass's instant (gevent's
   * loop time): on the runtime's clock; a clock of the user's own (a test's)
   * or a virtual one is read as it is.
   */
  readonly holdsTime: boolean;

  /**
   * @param hub The public hub.
   * @param host The runtime's timers, reading the hub's clock; replaced by
   * the host the clock brings, if it was made by {@linkcode coreOnHost}.
   * @param holdsTime Whether the clock is the runtime's (and not brought
   * by `coreOnHost`).
   */
  constructor(hub: HubFacade, host: TimerHost, holdsTime: boolean) {
    const own = hostOfClock.get(hub.clock);
    this.hub = hub;
    this.holdsTime = holdsTime && own === undefined;
    this.queue = new RunQueue({
      reportError: (e) => this.reportError(this.main, e),
      drained: () => this.quiet.drained(),
      away: (task) => (task as Task).wentAway(),
      holdTime: (hold) => {
        if (this.holdsTime) this.timers.hold(hold);
      },
    });
    this.timers = new Timers(own ?? host, {
      reportError: (e) => this.reportError(this.main, e),
      willFire: () => this.queue.newSlice(),
      changed: () => this.quiet.changed(),
    });
    this.quiet = new Quiescence(this.queue, this.timers);
    this.main = new Task(this, null);
    this.main.state = RUNNING;
    cores.set(hub, this);
  }

  /**
   * The running code is this hub's main (the default hub's, made for the
   * program; a virtual hub's, running its fn): it runs alone until it
   * parks or is found away.
   */
  mainRuns(): void {
    this.queue.runs(this.main);
  }

  /** The hub's time in milliseconds. */
  now(): number {
    return this.timers.host.now();
  }

  schedule<A, B>(fn: (arg: A, arg2: B) => void, arg: A, arg2?: B): void {
    this.queue.schedule(fn, arg, arg2);
  }

  resume<A>(fn: (arg: A) => void, arg: A, task: Task): void {
    this.queue.resume(fn, arg, undefined, task);
  }

  resumeFirst<A>(fn: (arg: A) => void, arg: A, task: Task): void {
    this.queue.resumeFirst(fn, arg, task);
  }

  park(task: Task): void {
    this.queue.park(task);
  }

  running(): Task | null {
    return this.queue.running as Task | null;
  }

  holds(task: Task): boolean {
    return this.queue.holds(task);
  }

  yieldTurn(
    resume: (v: undefined, scope: Scope) => void,
    scope: Scope,
  ): number {
    return this.queue.yieldTurn(resume, scope, scope.task);
  }

  redirectYield(
    slot: number,
    hit: (scope: unknown) => boolean,
    redirect: (resume: (v: unknown) => void, error: unknown) => void,
    error: unknown,
  ): boolean {
    return this.queue.redirect(slot, hit, redirect, error);
  }

  addTimer(ms: number, fn: (arg: unknown) => void, arg: unknown): Timer {
    return this.timers.add(ms, fn, arg);
  }

  cancelTimer(t: Timer): void {
    this.timers.cancel(t);
  }

  noteBlocked(task: Task, delta: number): void {
    // an ended greenlet is listed while flows it started still wait
    if (task.state === DEAD) {
      if (delta > 0) this.addLive(task);
      else this.removeLive(task);
    }
    this.quiet.noteBlocked(delta);
  }

  /** The public Greenlet of `task` (main's is made on first use). */
  greenletOf(task: Task): object {
    return task.greenlet ?? greenletFactory().main(task);
  }

  reportError(task: Task, error: unknown): void {
    const g = this.greenletOf(task);
    try {
      this.hub.handleError(g as never, error);
    } catch (e) {
      try {
        nativeConsoleError(`${g} failed with`, error);
        nativeConsoleError("and handleError itself threw:", e);
      } catch {
        // nothing more can be done
      }
    }
  }

  /** A spawned greenlet started: it joins the live list (newest first). */
  addLive(task: Task): void {
    if (this.#isLive(task)) return;
    this.quiet.live++;
    const head = this.#liveHead;
    task.lnext = head;
    if (head !== null) head.lprev = task;
    this.#liveHead = task;
  }

  /**
   * A live greenlet ended and nothing it started still waits: it leaves the
   * live list (a no-op if it is not on it).
   */
  removeLive(task: Task): void {
    if (!this.#isLive(task)) return;
    this.quiet.live--;
    if (task.lprev === null) this.#liveHead = task.lnext;
    else task.lprev.lnext = task.lnext;
    if (task.lnext !== null) task.lnext.lprev = task.lprev;
    task.lnext = task.lprev = null;
    this.quiet.changed();
  }

  #isLive(task: Task): boolean {
    return task.lprev !== null || this.#liveHead === task;
  }

  /** The live greenlets' tasks, oldest first. */
  liveOldestFirst(): Task[] {
    const live: Task[] = [];
    for (let t = this.#liveHead; t !== null; t = t.lnext) live.push(t);
    return live.reverse();
  }
}

/** The hub core that runs `task`. */
export function hubCoreOf(task: Task): HubCore {
  return task.core as HubCore;
}

/** The public Greenlet of `task` (a hub's main's is made on first use). */
export function greenletOf(task: Task): object {
  return (task.core as HubCore).greenletOf(task);
}
