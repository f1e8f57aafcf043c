/**
 * Owns "who is running": the AsyncLocalStorage that carries the current
 * greenlet's task across every `await`, and the fallback for code outside
 * greenlets (the default hub's main task, supplied by hub.ts).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Task } from "./_waiter.ts";

/** The store: the task of the running greenlet. */
export const als: AsyncLocalStorage<Task> = new AsyncLocalStorage<Task>();

let fallback: (() => Task) | null = null;

/** Sets where code outside every greenlet runs (hub.ts: the default main). */
export function setFallbackTask(f: () => Task): void {
  fallback = f;
}

/** The task of the running greenlet; the default hub's main outside them. */
export function currentTask(): Task {
  const t = als.getStore();
  if (t !== undefined) return t;
  if (fallback === null) {
    throw new Error(
      "Cannot find the current greenlet: import gevent-ts from its entry point (mod.ts)",
    );
  }
  return fallback();
}
