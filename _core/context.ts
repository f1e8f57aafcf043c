/**
 * Owns "who is running": the AsyncLocalStorage that carries the current
 * scope (a greenlet's task, or a scope inside it) across every `await`, and
 * the fallback for code outside greenlets (the default hub's main task).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Scope, Task } from "./scope.ts";

/**
 * The store of a greenlet's own context: its task while the greenlet has
 * not ended, and only weakly from then on.
 *
 * Why not the task itself: Deno's AsyncLocalStorage keeps each store as the
 * value of a WeakMap entry keyed by an object of the context, and V8's
 * young-generation collector keeps such a value alive while its key has
 * been promoted, until the next full collection. With the task as the
 * store, every ended greenlet (its value, its arguments: a request and its
 * response) was copied through each scavenge — on a server under load, 2–6
 * MB a scavenge and ~2.5 µs of collection per request (measured with
 * `--trace-gc-nvp`; a cell: 0.2 MB). An ended greenlet's cell holds it
 * weakly; a flow still running in its context after it was collected (a
 * raw promise's callback: a flow that waits at a switch point holds its
 * task) runs as code outside greenlets of that hub (its main).
 */
export class TaskCell {
  #task: Task | null;
  #ref: WeakRef<Task> | null = null;
  readonly #main: Task;

  constructor(task: Task) {
    this.#task = task;
    this.#main = task.core.main;
  }

  /** The task; once it ended and was collected, its hub's main. */
  get task(): Task {
    const t = this.#task;
    if (t !== null) return t;
    return this.#ref!.deref() ?? this.#main;
  }

  /** The greenlet ended: its task is held weakly from now on. */
  release(): void {
    const t = this.#task;
    if (t === null) return;
    this.#ref = new WeakRef(t);
    this.#task = null;
  }
}

/**
 * The store: the innermost scope of the running greenlet — a scope inside
 * it, or its own {@linkcode TaskCell}.
 */
export const als: AsyncLocalStorage<Scope | TaskCell> = new AsyncLocalStorage<
  Scope | TaskCell
>();

/** The innermost scope of the running greenlet; undefined outside them. */
export function storedScope(): Scope | undefined {
  const s = als.getStore();
  return s instanceof TaskCell ? s.task : s;
}

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
  const s = storedScope();
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
