/**
 * Owns the run queue: a FIFO ring of `fn(arg)` entries drained on
 * microtasks, with a few-ms slice after which the hub hands the thread back
 * to the runtime for one turn (`setImmediate`), so timers and I/O never
 * starve — unless the runtime had a turn during the slice anyway (the hub
 * was not hogging the thread: I/O callbacks ran in between).
 *
 * @module
 */

import {
  nativeNow,
  nativeQueueMicrotask,
  nativeSetImmediate,
} from "./_native.ts";
import { emit, onDrain } from "./_hooks.ts";

/**
 * A run-queue entry that starts user code at once (a greenlet's start, a
 * patched timer's callback). The queue runs such entries only first in a
 * drain pass, after the continuations of greenlets resumed before them.
 */
export interface UserTask {
  /** Runs the user code. */
  runUser(): void;
}

function runUser(arg: unknown): void {
  (arg as UserTask).runUser();
}

/** Schedule a {@linkcode UserTask} with `queue.schedule(runUserTask, task)`. */
export const runUserTask: (arg: unknown) => void = runUser;

/** What the run queue tells its hub. */
export interface RunQueueOwner {
  /** An entry threw. */
  reportError(error: unknown): void;
  /** A drain pass ended with the queue empty. */
  drained(): void;
}

const SLICE_MS = 5;
const QUEUE_ENTRIES = 512;
const SLICE_BUDGET = 32;

/** The FIFO run queue of one hub. */
export class RunQueue {
  // a ring of [fn, arg, arg2] entries from #head to #tail (exclusive); it
  // doubles when full and never shrinks.
  #q: unknown[] = new Array(QUEUE_ENTRIES * 3).fill(undefined);
  #head = 0;
  #tail = 0;
  #drainScheduled = false;
  #yieldNext = false;
  #budget = SLICE_BUDGET;
  #sliceStart = 0;
  /**
   * Whether the runtime had a turn since the slice started (a probe armed
   * then has run): then the slice is over without a forced turn — the hub
   * was idle in between (I/O callbacks ran), not hogging the thread.
   */
  #turned = true;
  #probeArmed = false;
  readonly #owner: RunQueueOwner;

  constructor(owner: RunQueueOwner) {
    this.#owner = owner;
  }

  /** Number of entries waiting. */
  get size(): number {
    const d = this.#tail - this.#head;
    return (d < 0 ? d + this.#q.length : d) / 3;
  }

  /** Whether anything is queued or a drain is on its way. */
  get busy(): boolean {
    return this.#head !== this.#tail || this.#drainScheduled;
  }

  /** Appends `fn(arg, arg2)`; returns the entry's slot (see `redirect`). */
  schedule<A, B>(fn: (arg: A, arg2: B) => void, arg: A, arg2?: B): number {
    const q = this.#q;
    const t = this.#tail;
    q[t] = fn;
    q[t + 1] = arg;
    q[t + 2] = arg2;
    let next = t + 3;
    if (next === q.length) next = 0;
    this.#tail = next;
    if (next === this.#head) this.#grow();
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      if (this.#yieldNext) {
        this.#yieldNext = false;
        nativeSetImmediate(this.#drainFromImmediate);
      } else {
        nativeQueueMicrotask(this.#drain);
      }
    }
    return t;
  }

  /**
   * If the entry scheduled at `slot` as `fn(undefined, tag)` is still
   * queued and `hit(tag)` holds, it becomes `redirect(fn, arg)`; returns
   * whether it did.
   */
  redirect<F>(
    slot: number,
    hit: (tag: unknown) => boolean,
    redirect: (fn: F, arg: unknown) => void,
    arg: unknown,
  ): boolean {
    const q = this.#q;
    if (
      slot < 0 || slot >= q.length || q[slot + 1] !== undefined ||
      q[slot + 2] === undefined || !hit(q[slot + 2])
    ) return false;
    q[slot + 1] = q[slot];
    q[slot] = redirect;
    q[slot + 2] = arg;
    return true;
  }

  /** A new slice starts now (the runtime just gave the thread back). */
  newSlice(): void {
    this.#startSlice(nativeNow());
  }

  #startSlice(now: number): void {
    this.#sliceStart = now;
    this.#turned = false;
    if (!this.#probeArmed) {
      this.#probeArmed = true;
      nativeSetImmediate(this.#probe);
    }
  }

  #probe = (): void => {
    this.#probeArmed = false;
    this.#turned = true;
  };

  /**
   * The slice has lasted `SLICE_MS` at `now`: a new one starts, and unless
   * the runtime had a turn meanwhile, the next drain waits for one.
   */
  #sliceOver(now: number): boolean {
    const hogged = !this.#turned;
    this.#startSlice(now);
    return hogged;
  }

  /** The event loop ran dry: drain on microtasks, not after a turn. */
  noYield(): void {
    this.#yieldNext = false;
  }

  #grow(): void {
    const old = this.#q;
    const n = old.length;
    const q: unknown[] = new Array(n * 2).fill(undefined);
    let j = 0;
    for (let i = this.#head; i < n; i++) q[j++] = old[i];
    for (let i = 0; i < this.#head; i++) q[j++] = old[i];
    this.#q = q;
    this.#head = 0;
    this.#tail = n;
  }

  #drainFromImmediate = (): void => {
    this.#startSlice(nativeNow());
    this.#drain();
  };

  #drain = (): void => {
    let n = 0;
    let resumed = false;
    let ranUser = false;
    for (;;) {
      const h = this.#head;
      if (h === this.#tail) break;
      const q = this.#q;
      const fn = q[h] as (arg: unknown, arg2: unknown) => void;
      // Starting user code runs it at once. If this pass already resumed
      // greenlets (their continuations wait in the microtask queue), let
      // those run first: continue the pass in a later microtask.
      if (fn === runUser) {
        if (resumed) {
          this.#budget -= 1 + (n >> 4);
          nativeQueueMicrotask(this.#drain);
          return;
        }
        ranUser = true;
      } else {
        resumed = true;
      }
      const arg = q[h + 1];
      const arg2 = q[h + 2];
      q[h] = q[h + 1] = q[h + 2] = undefined;
      const next = h + 3;
      this.#head = next === q.length ? 0 : next;
      try {
        fn(arg, arg2);
      } catch (e) {
        this.#owner.reportError(e);
      }
      // A long pass (many greenlets started at once) checks the time too.
      if ((++n & 1023) === 0) {
        const now = nativeNow();
        if (now - this.#sliceStart >= SLICE_MS && this.#sliceOver(now)) {
          nativeSetImmediate(this.#drainFromImmediate);
          return;
        }
      }
    }
    this.#drainScheduled = false;
    // User code that ran here announced its own switch points; one that
    // ended at a raw await must stay visible to the monitor's timer.
    if (onDrain !== null) emit(onDrain, ranUser);
    this.#budget -= 1 + (n >> 4);
    if (this.#budget <= 0) {
      this.#budget = SLICE_BUDGET;
      const now = nativeNow();
      if (now - this.#sliceStart >= SLICE_MS && this.#sliceOver(now)) {
        this.#yieldNext = true;
      }
    }
    this.#owner.drained();
  };
}
