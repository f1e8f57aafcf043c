/**
 * Owns the scopes' AbortSignals: a scope's own signal, aborted when it or an
 * outer scope (up to a shield) is cancelled, and the operations that follow
 * a scope or a caller's signal, held strongly until they end.
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
  /** Operations that its cancellation stops, until they end. */
  followers: Set<OpLink> | null;
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

/**
 * One operation that a scope's cancellation (and a caller's own signal)
 * stops: held strongly by what it follows for as long as the operation
 * lives, let go by `release()` when it ends. A hook (`onAbort`) may decide
 * how it stops — or that it runs on, where its caller could not observe an
 * abort — instead of aborting its controller.
 */
export class OpLink {
  /** The operation's own controller: its signal is what the API is given. */
  readonly controller: AbortController = new AbortController();
  /** Stops the operation instead of `controller.abort(reason)`. */
  onAbort: ((reason: unknown) => void) | null = null;
  #scope: Scope | null = null;
  #signalSet: Set<OpLink> | null = null;
  #done = false;

  /** The signal handed to the operation. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether it was released or aborted (it follows nothing any more). */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Follows `scope` (and the outer scopes up to a shield) and `user`, a
   * caller's signal; aborts at once if either is cancelled already.
   */
  follow(scope: Scope, user?: AbortSignal | null): void {
    if (this.#done) return;
    const cancelled = findCancel(scope);
    if (cancelled !== undefined) return this.abort(cancelled.error);
    if (user !== undefined && user !== null && user.aborted) {
      return this.abort(user.reason);
    }
    this.#scope = scope;
    for (let s: Scope | null = scope; s !== null; s = s.outer) {
      (signalsOf(s).followers ??= new Set()).add(this);
      if (s.shielded) break;
    }
    if (user !== undefined && user !== null) {
      let set = signalFollowers.get(user);
      if (set === undefined) {
        const followers = set = new Set();
        signalFollowers.set(user, set);
        user.addEventListener("abort", () => {
          signalFollowers.delete(user);
          for (const link of followers) link.abort(user.reason);
        }, { once: true });
      }
      set.add(this);
      this.#signalSet = set;
    }
  }

  /** Stops the operation (once): the hook, or the controller's abort. */
  abort(reason: unknown): void {
    if (this.#done) return;
    this.release();
    const hook = this.onAbort;
    if (hook !== null) hook(reason);
    else this.controller.abort(reason);
  }

  /** The operation ended: nothing holds it any more. */
  release(): void {
    if (this.#done) return;
    this.#done = true;
    for (let s: Scope | null = this.#scope; s !== null; s = s.outer) {
      s.signals?.followers?.delete(this);
      if (s.shielded) break;
    }
    this.#scope = null;
    this.#signalSet?.delete(this);
    this.#signalSet = null;
  }
}

const signalFollowers = new WeakMap<AbortSignal, Set<OpLink>>();

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
      for (const link of followers) {
        try {
          link.abort(error);
        } catch (e) {
          scope.task.core.reportError(scope.task, e);
        }
      }
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
