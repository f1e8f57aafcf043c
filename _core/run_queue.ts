/**
 * Owns the run queue and who runs: a FIFO ring of entries, some of which
 * resume (or start) a greenlet. The hub resumes one greenlet at a time and
 * resumes the next only when that one parks — at a hub-aware wait, a
 * `sleep`, or its end ({@linkcode RunQueue.park}) — or is found away in an
 * await the hub does not own: known when the runtime gets a turn (a probe
 * armed on `setImmediate` runs only once the microtask queue has drained).
 * So code between two switch points runs alone, as in gevent. After a
 * few-ms slice the hub hands the thread back to the runtime for one turn,
 * so timers and I/O never starve — unless the runtime had a turn during the
 * slice anyway (the hub was not hogging the thread).
 *
 * @module
 */

import {
  nativeNow,
  nativeQueueMicrotask,
  nativeSetImmediate,
} from "./native.ts";
import { emit, onDrain } from "./hooks.ts";

/**
 * A run-queue entry that starts user code at once (a greenlet's start, a
 * patched timer's callback).
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

/** A greenlet's task as the run queue sees it (only its identity counts). */
export type Runnable = object;

/** What the run queue tells its hub. */
export interface RunQueueOwner {
  /** An entry threw. */
  reportError(error: unknown): void;
  /** A drain pass ended with the queue empty. */
  drained(): void;
  /** The greenlet resumed last is away in an await the hub does not own. */
  away(task: Runnable): void;
  /**
   * A pass began (`true`: timers armed from now on count from this instant,
   * as libev's loop time in gevent) or ended (`false`: from the clock again).
   */
  holdTime(hold: boolean): void;
}

const SLICE_MS = 5;
const QUEUE_ENTRIES = 512;
/** Entries of four slots: fn, arg, arg2, and the task it resumes (or null). */
const W = 4;
/**
 * At most this many hand-overs between two looks at the clock: after a turn
 * of the runtime the hub looks at the first, then after 2, 4, … hand-overs
 * while the slice is young (a greenlet may run for ms between two switch
 * points; 127 of those must not pass unseen).
 */
const CHECK_EVERY = 128;
/**
 * A slice is over after `SLICE_MS` once this many hand-overs passed in it,
 * or after `LONG_MS` whatever their number: the few greenlets a turn wakes
 * or starts together (the tutorial's two) arm their timers in one pass,
 * from one instant, even on a loaded machine where each runs for ms — a
 * turn between them would part their instants and reorder timers that tie
 * — while a greenlet that runs tens of ms between its switch points still
 * gives the runtime a turn at each of them.
 */
const FIRST_CHECK = 8;
const LONG_MS = 20;
/** At most this many probes armed at once (see `#armProbes`). */
const MAX_PROBES = 64;

/** The FIFO run queue of one hub. */
export class RunQueue {
  // a ring of [fn, arg, arg2, task] entries from #head to #tail
  // (exclusive); it doubles when full and never shrinks.
  #q: unknown[] = new Array(QUEUE_ENTRIES * W).fill(undefined);
  #head = 0;
  #tail = 0;
  // resumptions that go before the ring (waiters settled by code that runs
  // from the queue, e.g. an Event's notification): [fn, arg, task] triples
  #first: unknown[] = [];
  #firstHead = 0;
  /** A drain is scheduled or running. */
  #drainScheduled = false;
  #inDrain = false;
  /** The greenlet resumed last that has not parked yet (or null). */
  #current: Runnable | null = null;
  #yieldNext = false;
  #ops = 0;
  /** Hand-overs until the next look at the clock (see `CHECK_EVERY`). */
  #every = 1;
  /** Hand-overs in this slice before the last look at the clock. */
  #sliceOps = 0;
  #sliceStart = 0;
  /**
   * Whether the runtime had a turn since the slice started (a probe armed
   * then has run): then the slice is over without a forced turn — the hub
   * was idle in between (I/O callbacks ran), not hogging the thread.
   */
  #turned = true;
  /** Probes armed and not run yet. */
  #probes = 0;
  /** Whether the owner holds the time for this pass (released at the next turn). */
  #held = false;
  readonly #owner: RunQueueOwner;

  constructor(owner: RunQueueOwner) {
    this.#owner = owner;
  }

  /** Number of entries waiting. */
  get size(): number {
    const d = this.#tail - this.#head;
    return (d < 0 ? d + this.#q.length : d) / W +
      (this.#first.length - this.#firstHead) / 3;
  }

  /** Whether anything is queued or a drain is on its way. */
  get busy(): boolean {
    return this.#head !== this.#tail || this.#drainScheduled ||
      this.#firstHead !== this.#first.length;
  }

  /**
   * The task resumed last that has not parked: it runs, or it is away and
   * the probe armed when it was resumed has not run yet.
   */
  get running(): Runnable | null {
    return this.#current;
  }

  /**
   * `task` (a hub's main) runs now, as the program's own code does when a
   * hub is made: it runs alone until it parks or the runtime's next turn
   * finds it away.
   */
  runs(task: Runnable): void {
    this.#current = task;
    if (this.#probes === 0) this.#armProbe();
  }

  /** Appends `fn(arg, arg2)`, which resumes no greenlet; returns its slot. */
  schedule<A, B>(fn: (arg: A, arg2: B) => void, arg: A, arg2?: B): number {
    return this.#push(fn, arg, arg2, null);
  }

  /**
   * Appends `fn(arg, arg2)` that resumes (or starts) `task`: once it ran,
   * the queue runs nothing else until `task` parks or is found away.
   */
  resume<A, B>(
    fn: (arg: A, arg2: B) => void,
    arg: A,
    arg2: B,
    task: Runnable,
  ): number {
    return this.#push(fn, arg, arg2, task);
  }

  /**
   * `task` yields (`sleep(0)`): `fn(undefined, tag)` resumes it from the
   * tail; if it is the one running, the next entry runs (see `park`).
   * Returns the entry's slot (see `redirect`).
   */
  yieldTurn<B>(
    fn: (arg: undefined, tag: B) => void,
    tag: B,
    task: Runnable,
  ): number {
    if (task !== this.#current) return this.#push(fn, undefined, tag, task);
    const q = this.#q;
    const t = this.#tail;
    q[t] = fn;
    q[t + 2] = tag;
    q[t + 3] = task;
    let next = t + W;
    if (next === q.length) next = 0;
    this.#tail = next;
    if (next === this.#head) this.#grow();
    this.#current = null; // it is the running one: no wake, the next runs
    this.#advance();
    return t;
  }

  /** Like {@linkcode resume}, but before everything queued. */
  resumeFirst<A>(fn: (arg: A) => void, arg: A, task: Runnable): void {
    const f = this.#first;
    f.push(fn, arg, task);
    this.#wake();
  }

  #push(
    fn: unknown,
    arg: unknown,
    arg2: unknown,
    task: Runnable | null,
  ): number {
    const q = this.#q;
    const t = this.#tail;
    q[t] = fn;
    q[t + 1] = arg;
    q[t + 2] = arg2;
    q[t + 3] = task;
    let next = t + W;
    if (next === q.length) next = 0;
    this.#tail = next;
    if (next === this.#head) this.#grow();
    this.#wake();
    return t;
  }

  /**
   * Whether an entry that resumes `task` is queued (it runs again soon). A
   * scan: for the rare questions a kill or a deadline asks, never per switch.
   */
  holds(task: Runnable): boolean {
    const f = this.#first;
    for (let i = this.#firstHead + 2; i < f.length; i += 3) {
      if (f[i] === task) return true;
    }
    const q = this.#q;
    for (let i = this.#head; i !== this.#tail;) {
      if (q[i + 3] === task) return true;
      i += W;
      if (i === q.length) i = 0;
    }
    return false;
  }

  /** Something was queued: see that it runs. */
  #wake(): void {
    if (this.#drainScheduled) return;
    if (this.#current !== null) {
      // a resumed greenlet runs (or is away): it parks, or the probe says
      // it is away, and the queue goes on then
      this.#armProbes();
      return;
    }
    this.#drainScheduled = true;
    if (this.#yieldNext) {
      this.#yieldNext = false;
      nativeSetImmediate(this.#drainFromImmediate);
    } else {
      nativeQueueMicrotask(this.#drain);
    }
  }

  /**
   * `task` reached a switch point (a hub-aware wait, a yield, its end). If
   * it is the one resumed last, the next entry runs: a resumption at once
   * (it only settles a promise), anything else from a fresh microtask.
   */
  park(task: Runnable): void {
    if (task !== this.#current) return;
    this.#current = null;
    this.#advance();
  }

  /** The running greenlet parked: the next entry runs (see `park`). */
  #advance(): void {
    if (this.#inDrain || this.#drainScheduled) return;
    if (++this.#ops >= this.#every && this.#timeForTurn()) {
      this.#drainScheduled = true;
      nativeSetImmediate(this.#drainFromImmediate);
      return;
    }
    if (this.#first.length === 0) {
      const h = this.#head;
      const q = this.#q;
      const next = q[h + 3];
      if (h !== this.#tail && next !== null && q[h] !== runUser) {
        const fn = q[h] as (arg: unknown, arg2: unknown) => void;
        const arg = q[h + 1];
        const arg2 = q[h + 2];
        q[h] =
          q[h + 1] =
          q[h + 2] =
          q[h + 3] =
            undefined;
        const n = h + W;
        this.#head = n === q.length ? 0 : n;
        this.#current = next as Runnable;
        fn(arg, arg2);
        // the runtime's next turn tells whether it went away meanwhile
        this.#armProbes();
        return;
      }
    }
    // anything else (or nothing: a drain pass still ends, for the hooks and
    // quiescence) runs from a fresh microtask, outside the greenlet's frame
    this.#drainScheduled = true;
    nativeQueueMicrotask(this.#drain);
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
    this.#turn();
    this.#hold();
    this.#startSlice(nativeNow());
  }

  #hold(): void {
    this.#held = true;
    this.#owner.holdTime(true);
  }

  #release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#owner.holdTime(false);
  }

  #startSlice(now: number): void {
    this.#sliceStart = now;
    this.#every = 1;
    this.#ops = 0;
    this.#sliceOps = 0;
    this.#turned = false;
    if (this.#probes === 0) this.#armProbe();
  }

  #armProbe(): void {
    this.#probes++;
    nativeSetImmediate(this.#probe);
  }

  /**
   * A greenlet runs and entries wait behind it: one probe for it and one
   * per entry (up to `MAX_PROBES`). Probes armed in one turn all run in the
   * runtime's next one, each after the microtask queue drained (Deno and
   * Node run microtasks between two immediates), and any of them finds the
   * greenlet resumed last away: so each can start the next entry, and a
   * burst of greenlets that go away (requests awaiting I/O) starts within
   * one turn of the event loop rather than one per turn.
   */
  #armProbes(): void {
    let p = this.#probes;
    if (p >= MAX_PROBES) return;
    // integers only: this runs at every hand-over (sleep(0) included)
    let want = this.#tail - this.#head;
    if (want < 0) want += this.#q.length;
    want = want / W + (this.#first.length - this.#firstHead) / 3 + 1;
    if (p >= want) return;
    if (want > MAX_PROBES) want = MAX_PROBES;
    this.#probes = want;
    for (; p < want; p++) nativeSetImmediate(this.#probe);
  }

  #probe = (): void => {
    this.#probes--;
    this.#turned = true;
    this.#every = 1; // the next hand-over looks at the clock
    this.#release();
    const wentAway = this.#turn();
    if (this.#drainScheduled || this.#current !== null) return;
    if (this.#head !== this.#tail || this.#firstHead !== this.#first.length) {
      this.#drainScheduled = true;
      this.#drain();
    } else if (wentAway) {
      // the greenlet resumed last went away and nothing is queued: the hub
      // is idle now, as after a drain (idle(), wait() and virtual time look
      // again; no drain pass told them)
      this.#owner.drained();
    }
  };

  /**
   * The runtime had a turn, so the microtask queue drained: a greenlet
   * resumed and not parked since is away in an await the hub does not own.
   * Returns whether there was one.
   */
  #turn(): boolean {
    const t = this.#current;
    if (t === null) return false;
    this.#current = null;
    this.#owner.away(t);
    return true;
  }

  /**
   * The slice has lasted `SLICE_MS` at `now`: a new one starts, and unless
   * the runtime had a turn meanwhile, the next drain waits for one.
   */
  #sliceOver(now: number): boolean {
    const hogged = !this.#turned;
    this.#startSlice(now);
    return hogged;
  }

  /** Whether the slice is over and the hub hogged it: time for a turn. */
  #timeForTurn(): boolean {
    this.#sliceOps += this.#ops;
    this.#ops = 0;
    const now = nativeNow();
    const elapsed = now - this.#sliceStart;
    if (
      elapsed >= SLICE_MS &&
      (this.#sliceOps >= FIRST_CHECK || elapsed >= LONG_MS)
    ) {
      // a long pass: time goes on (within a slice, timers armed in one pass
      // count from its instant, however often the hub looks at the clock)
      if (this.#held) this.#owner.holdTime(true);
      return this.#sliceOver(now);
    }
    if (this.#every < CHECK_EVERY) this.#every <<= 1;
    return false;
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
    this.#turn();
    this.#hold();
    this.#startSlice(nativeNow());
    this.#drain();
  };

  #drain = (): void => {
    if (this.#current !== null) {
      this.#drainScheduled = false;
      return; // a resumed greenlet runs: its park goes on from here
    }
    if (!this.#held) {
      // the time of this pass, until it ends or the runtime has a turn
      this.#hold();
      if (this.#probes === 0) this.#armProbe();
    }
    this.#inDrain = true;
    let ranUser = false;
    for (;;) {
      let fn: (arg: unknown, arg2: unknown) => void;
      let arg: unknown;
      let arg2: unknown = undefined;
      let task: unknown;
      const f = this.#first;
      if (this.#firstHead !== f.length) {
        const i = this.#firstHead;
        fn = f[i] as typeof fn;
        arg = f[i + 1];
        task = f[i + 2];
        if (i + 3 === f.length) {
          f.length = 0;
          this.#firstHead = 0;
        } else {
          f[i] = f[i + 1] = f[i + 2] = undefined;
          this.#firstHead = i + 3;
        }
      } else {
        const h = this.#head;
        if (h === this.#tail) break;
        const q = this.#q;
        fn = q[h] as typeof fn;
        arg = q[h + 1];
        arg2 = q[h + 2];
        task = q[h + 3];
        q[h] =
          q[h + 1] =
          q[h + 2] =
          q[h + 3] =
            undefined;
        const next = h + W;
        this.#head = next === q.length ? 0 : next;
      }
      if (fn === runUser) ranUser = true;
      if (task !== null) this.#current = task as Runnable;
      try {
        fn(arg, arg2);
      } catch (e) {
        this.#owner.reportError(e);
      }
      if (this.#current !== null) {
        // it runs on (its continuation waits in the microtask queue); the
        // runtime's next turn tells whether it went away meanwhile
        this.#inDrain = false;
        this.#drainScheduled = false;
        this.#armProbes();
        return;
      }
      if (++this.#ops >= this.#every && this.#timeForTurn()) {
        this.#inDrain = false;
        nativeSetImmediate(this.#drainFromImmediate);
        return;
      }
    }
    this.#inDrain = false;
    this.#drainScheduled = false;
    // User code that ran here announced its own switch points; one that
    // ended at a raw await must stay visible to the monitor's timer.
    if (onDrain !== null) emit(onDrain, ranUser);
    if (++this.#ops >= this.#every && this.#timeForTurn()) {
      this.#yieldNext = true;
    }
    this.#release();
    this.#owner.drained();
  };
}
