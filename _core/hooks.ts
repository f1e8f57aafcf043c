/**
 * Owns the hooks bus: what the hub and greenlets announce (spawn, start,
 * switch, wait, settle, finish, timer, drain) to any number of subscribers,
 * and who the hub acts for while it settles waits from its own code
 * (`actor`). With no subscriber, each announcement costs one null check.
 *
 * @module
 */

import type { Scope, Task } from "./scope.ts";
import {
  captureSite,
  creationSites,
  sampleSite,
  type Site,
  siteMode,
} from "../_util/mod.ts";
import type { Waiter } from "./waiter.ts";

/** What a subscriber may listen to; every member is optional. */
export interface HubHooks {
  /** A greenlet was created (its task is new, not started). */
  spawn?(task: Task): void;
  /** A greenlet's function starts to run. */
  start?(task: Task): void;
  /** A greenlet reached a switch point: a wait, a sleep, a yield. */
  switch?(task: Task): void;
  /** A wait began (after `switch`). */
  wait?(waiter: Waiter): void;
  /** A wait ended: resumed, rejected, timed out or abandoned. */
  settle?(waiter: Waiter): void;
  /** A greenlet ended. */
  finish?(task: Task): void;
  /** A scope's body was detached at its deadline (away in an unowned await). */
  detach?(scope: Scope): void;
  /** The hub's native timer fired; due timers run next. */
  timer?(): void;
  /** A drain pass of the run queue ended; `ranUser`: it started user code. */
  drain?(ranUser: boolean): void;
  /** Record where greenlets are spawned while this subscriber is on. */
  spawnSites?: boolean | undefined;
}

type Fn<A> = (arg: A) => void;

/** Listeners per event, or null when nobody listens (checked on hot paths). */
export let onSpawn: Fn<Task>[] | null = null;
/** See {@linkcode HubHooks.start}. */
export let onStart: Fn<Task>[] | null = null;
/** See {@linkcode HubHooks.switch}. */
export let onSwitch: Fn<Task>[] | null = null;
/** See {@linkcode HubHooks.wait}. */
export let onWait: Fn<Waiter>[] | null = null;
/** See {@linkcode HubHooks.settle}. */
export let onSettle: Fn<Waiter>[] | null = null;
/** See {@linkcode HubHooks.finish}. */
export let onFinish: Fn<Task>[] | null = null;
/** See {@linkcode HubHooks.detach}. */
export let onDetach: Fn<Scope>[] | null = null;
/** See {@linkcode HubHooks.timer}. */
export let onTimer: Fn<void>[] | null = null;
/** See {@linkcode HubHooks.drain}. */
export let onDrain: Fn<boolean>[] | null = null;
/** Whether any subscriber wants spawn sites recorded. */
export let spawnSites = false;

/**
 * The site below `below` (the caller of the public function called) of a
 * greenlet spawned or a primitive created now: every one while a
 * subscriber wants spawn sites, else as the site mode says (bounded by
 * default; see `setSiteMode`).
 */
export function takeSite(below: unknown): Site | null {
  return spawnSites ? captureSite(below) : sampleSite(below);
}

/**
 * Records where `obj` (a lock, an event, a queue) is created, if sites are
 * recorded now: `below` is its class (`new.target`).
 */
export function noteCreation(obj: object, below: unknown): void {
  const site = takeSite(below);
  if (site !== null) creationSites.set(obj, site);
}

/** Where `obj` was created, if that was recorded; else null. */
export function creationSiteOf(obj: object): string | null {
  return creationSites.get(obj)?.text ?? null;
}

/**
 * How a primitive inspects (`console.log`, `util.inspect`): its
 * `toString()`, then where it was created when that was recorded.
 */
export function inspectCreated(this: object): string {
  const site = creationSiteOf(this);
  return site === null ? String(this) : `${this} — created at ${site}`;
}

/** Whether every spawn site is recorded now (run info shows them then). */
export function allSites(): boolean {
  return spawnSites || siteMode() === "all";
}

/**
 * Who the hub acts for while its own code settles waits or spawns: the task
 * whose action it carries out (a notification of what that greenlet did:
 * released, set, ended), `"timer"` (due timers run), `"hub"` (its own
 * checks: idle, quiet, the loop ran dry); null when the running code's own
 * greenlet acts (the current task). Set only by {@linkcode actFor}.
 */
export let actor: Task | "timer" | "hub" | null = null;

/**
 * Runs `fn(x, y)` with {@linkcode actor} set to `a` (restored after) while
 * someone listens to `settle`; else just runs it (one null check).
 */
export function actFor<X, Y, R>(
  a: Task | "timer" | "hub",
  fn: (x: X, y: Y) => R,
  x: X,
  y: Y,
): R {
  if (onSettle === null) return fn(x, y);
  const previous = actor;
  actor = a;
  try {
    return fn(x, y);
  } finally {
    actor = previous;
  }
}

const subscribers: HubHooks[] = [];

function collect<A>(key: keyof HubHooks): Fn<A>[] | null {
  const fns: Fn<A>[] = [];
  for (const s of subscribers) {
    const f = s[key];
    if (typeof f === "function") fns.push((f as Fn<A>).bind(s));
  }
  return fns.length === 0 ? null : fns;
}

function rebuild(): void {
  onSpawn = collect("spawn");
  onStart = collect("start");
  onSwitch = collect("switch");
  onWait = collect("wait");
  onSettle = collect("settle");
  onFinish = collect("finish");
  onDetach = collect("detach");
  onTimer = collect("timer");
  onDrain = collect("drain");
  spawnSites = subscribers.some((s) => s.spawnSites === true);
}

/**
 * Adds a subscriber; returns the function that removes it (idempotent).
 * Subscribers are called in subscription order; they must not throw.
 */
export function subscribe(hooks: HubHooks): () => void {
  subscribers.push(hooks);
  rebuild();
  return () => {
    const i = subscribers.indexOf(hooks);
    if (i < 0) return;
    subscribers.splice(i, 1);
    rebuild();
  };
}

/** Calls every listener in `fns` with `arg` (callers check for null first). */
export function emit<A>(fns: Fn<A>[], arg: A): void {
  for (let i = 0; i < fns.length; i++) fns[i](arg);
}
