/**
 * Owns the scopes' AbortSignals: a scope's own signal, aborted when it or an
 * outer scope (up to a shield) is cancelled, and the controllers of
 * operations that follow a scope or a caller's signal, held weakly.
 *
 * @module
 */

import type { Pending, Scope } from "./scope.ts";

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

/**
 * `scope` was cancelled with `error`: its signal aborts, and so do the
 * operations that follow it (each once: they stop following it).
 */
export function abortScope(scope: Scope, error: unknown): void {
  const signals = scope.signals;
  if (signals !== null) {
    signals.ac?.abort(error);
    const followers = signals.followers;
    signals.followers = null;
    if (followers !== null) {
      for (const ref of followers) ref.deref()?.abort(error);
    }
  }
}

/** A scope ended: it stops following its outer scope's signal. */
export function closeScope(scope: Scope): void {
  const signals = scope.signals;
  if (signals !== null && signals.unfollow !== null) {
    signals.unfollow();
    signals.unfollow = null;
  }
}
