/**
 * Owns scopes: a greenlet's task and the scopes inside it, the error pending
 * in each (a cancellation, level-triggered, or a one-shot error) and which
 * one a wait started in a scope would throw, and what a task keeps besides
 * its waits — its run states, the scopes told when it is found away, the
 * detached bodies run info lists.
 *
 * @module
 */

import type { Scheduler } from "./scheduler.ts";
import type { ScopeSignals } from "./signals.ts";
import type { Waiter } from "./waiter.ts";
import { emit, onDetach } from "./hooks.ts";
import type { Site } from "../_util/mod.ts";

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
   * Why its body was detached (run info: "a … body detached <this>"): at
   * its deadline unless a subclass knows better.
   */
  detachedWhy(): string {
    return "at its deadline";
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
 * waits and the yield slot — waiter.ts; pending (`stop`) — this module and
 * cancel.ts; state, greenlet and spawnSite — greenlet.ts; lnext/lprev (the
 * hub's live list) — the hub core.
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
  /** Where it was spawned, when recorded (see `takeSite`). */
  spawnSite: Site | null = null;
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
export function interrupter(scope: Scope): Scope | null {
  for (let s: Scope | null = scope; s !== null; s = s.outer) {
    if (s.stop !== null) return s;
    if (s.shielded) break;
  }
  return null;
}

/** `p`, the error of `s`, rejected a wait: one-shot errors are used up. */
export function taken(s: Scope, p: Pending): void {
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
