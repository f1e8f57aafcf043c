/**
 * Owns a hub's timers: the heap of armed timers and the one native timer
 * armed for the earliest deadline, through a host seam (clock, arm, disarm,
 * ref) that a virtual host can replace in tests.
 *
 * @module
 */

import {
  nativeClearTimeout,
  nativeSetTimeout,
  nativeTimerRef,
} from "./native.ts";
import { Timer, TimerHeap } from "./timer_heap.ts";
import { actFor, emit, onTimer } from "./hooks.ts";

/** The longest delay a runtime timer takes (2³¹−1 ms); longer ones re-arm. */
const MAX_DELAY = 2 ** 31 - 1;

/** Where a hub's time comes from and how it waits for it. */
export interface TimerHost {
  /** The current time in milliseconds. */
  now(): number;
  /** Calls `fire` after `delay` ms; returns a handle for `disarm`/`ref`. */
  arm(delay: number, fire: () => void): unknown;
  /** Cancels an armed handle. */
  disarm(handle: unknown): void;
  /** Lets the handle keep the process alive (`true`) or not. */
  ref(handle: unknown, ref: boolean): void;
}

/** The runtime's timers, reading time from `now`. */
export function realTimerHost(now: () => number): TimerHost {
  return {
    now,
    arm: (delay, fire) => nativeSetTimeout(fire, delay),
    disarm: nativeClearTimeout,
    ref: nativeTimerRef,
  };
}

/** What the timers tell their hub. */
export interface TimersOwner {
  /** A timer callback threw. */
  reportError(error: unknown): void;
  /** The native timer fired: due timers run now. */
  willFire(): void;
  /** Due timers ran (or one was cancelled): the hub may have gone quiet. */
  changed(): void;
}

/** The timers of one hub. */
export class Timers {
  readonly host: TimerHost;
  readonly #owner: TimersOwner;
  readonly #heap = new TimerHeap();
  #seq = 0;
  #native: unknown = null;
  #nativeDeadline = Infinity;
  #unrefCount = 0;
  #nativeRefd = true;
  /** The held time of the hub's pass, or NaN: timers count from the clock. */
  #passNow = NaN;

  constructor(host: TimerHost, owner: TimersOwner) {
    this.host = host;
    this.#owner = owner;
  }

  /** Number of armed timers. */
  get size(): number {
    return this.#heap.size;
  }

  /** The earliest deadline armed (ms of the host's clock); Infinity if none. */
  get nextDeadline(): number {
    return this.#heap.peek()?.deadline ?? Infinity;
  }

  /** Whether an armed timer keeps the process alive (is not unref'd). */
  get hasRef(): boolean {
    return this.#heap.size > this.#unrefCount;
  }

  /** Every armed timer, in no order (diagnostics). */
  values(): readonly Timer[] {
    return this.#heap.values();
  }

  /**
   * While the hub's pass holds the time (`hold(true)`), timers armed count
   * from that instant — gevent's loop time: two sleeps armed in one pass
   * share their base, so their order is their arming order. `hold(false)`:
   * from the clock again.
   */
  hold(hold: boolean): void {
    this.#passNow = hold ? this.host.now() : NaN;
  }

  /** Arms a timer: `fn(arg)` runs after `ms` milliseconds. */
  add(ms: number, fn: (arg: unknown) => void, arg: unknown): Timer {
    const held = this.#passNow;
    const now = held === held ? held : this.host.now();
    const t = new Timer(now + ms, this.#seq++, fn, arg);
    this.#heap.push(t, ms);
    if (t.deadline < this.#nativeDeadline) this.#arm(t.deadline);
    else if (!this.#nativeRefd) this.#syncRef();
    return t;
  }

  /** Disarms a timer; a no-op if it fired or was cancelled. */
  cancel(t: Timer): void {
    if (!this.#heap.remove(t)) return;
    if (!t.ref) this.#unrefCount--;
    if (this.#heap.size === 0 && this.#native !== null) {
      this.host.disarm(this.#native);
      this.#native = null;
      this.#nativeDeadline = Infinity;
    }
    this.#syncRef();
    this.#owner.changed();
  }

  /** Sets whether `t` keeps the process alive (the native timer is unref'd while all are). */
  setRef(t: Timer, ref: boolean): void {
    if (t.ref === ref) return;
    t.ref = ref;
    if (t.list === null) return;
    this.#unrefCount += ref ? -1 : 1;
    this.#syncRef();
  }

  #syncRef(): void {
    if (this.#native === null) return;
    const want = this.#heap.size > this.#unrefCount;
    if (want !== this.#nativeRefd) {
      this.#nativeRefd = want;
      this.host.ref(this.#native, want);
    }
  }

  #arm(deadline: number): void {
    const host = this.host;
    if (this.#native !== null) host.disarm(this.#native);
    this.#nativeDeadline = deadline;
    const delay = Math.min(
      MAX_DELAY,
      Math.max(0, Math.ceil(deadline - host.now())),
    );
    this.#native = host.arm(delay, this.#fire);
    this.#nativeRefd = true;
    if (this.#unrefCount !== 0) this.#syncRef();
  }

  /** Runs the timers of `timers` due at `now`, earliest first. */
  static #runDue(timers: Timers, now: number): void {
    const heap = timers.#heap;
    for (;;) {
      const t = heap.peek();
      if (t === undefined || t.deadline > now) break;
      heap.pop();
      if (!t.ref) timers.#unrefCount--;
      try {
        t.fn(t.arg);
      } catch (e) {
        timers.#owner.reportError(e);
      }
    }
  }

  #fire = (): void => {
    this.#native = null;
    this.#nativeDeadline = Infinity;
    this.#owner.willFire();
    if (onTimer !== null) emit(onTimer, undefined);
    // what due timers settle, they settle for no greenlet
    actFor("timer", Timers.#runDue, this, this.host.now());
    const next = this.#heap.peek();
    if (next !== undefined && this.#native === null) this.#arm(next.deadline);
    this.#owner.changed();
  };
}
