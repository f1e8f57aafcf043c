/**
 * Owns "who is running": the AsyncLocalStorage that carries the current
 * scope (a greenlet's task, or a scope inside it) across every `await`, and
 * the fallback for code outside greenlets (the default hub's main task).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Scope, Task } from "./scope.ts";

/** The store: the innermost scope of the running greenlet. */
export const als: AsyncLocalStorage<Scope> = new AsyncLocalStorage<Scope>();

let fallback: (() => Task) | null = null;

/**
 * Calls `fn(...args)` outside every greenlet's context (the fallback's).
 * Not `als.exit()`: on Node 20 that disables the storage's promise hooks
 * and enables them again on every call, which costs more than the request
 * a server runs through it; `run(undefined)` is free when no store is set.
 */
export function outsideGreenlets<A extends unknown[], R>(
  fn: (...args: A) => R,
  ...args: A
): R {
  if (als.getStore() === undefined) return fn(...args);
  return als.run(undefined as unknown as Scope, fn, ...args);
}

/** Sets where code outside every greenlet runs (hub.ts: the default main). */
export function setFallbackTask(f: () => Task): void {
  fallback = f;
}

/** The innermost scope of the running code (the default main outside greenlets). */
export function currentScope(): Scope {
  const s = als.getStore();
  if (s !== undefined) return s;
  if (fallback === null) {
    throw new Error(
      "Cannot find the current greenlet: import gevent-ts from its entry point (mod.ts)",
    );
  }
  return fallback();
}

/** The task of the running greenlet; the default hub's main outside them. */
export function currentTask(): Task {
  return currentScope().task;
}
