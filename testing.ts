/**
 * Virtual time for tests: {@linkcode withVirtualTime} runs a function on a
 * fresh hub whose clock is a {@linkcode VirtualClock}. Whenever nothing is
 * runnable and no tracked operation is pending, the clock jumps to the next
 * timer: an hour of `sleep`s takes milliseconds, with the interleavings
 * real time gives (timers with equal deadlines fire in arming order).
 *
 * The rule for operations the hub cannot see: virtual time waits only for
 * what the hub can see — runnable greenlets and tracked operations (patched
 * `fetch`, files, subprocesses: `patch.ts`; while one is pending an
 * automatic clock keeps real pace instead of jumping). Before each jump it gives the runtime
 * one real turn, so I/O callbacks already queued run first; it does not
 * wait for anything else (a raw promise, unpatched I/O, a native timer).
 * When nothing visible is left to wait for and no timer is armed, it fails
 * with a {@linkcode LoopExit} naming what waits, never hangs.
 *
 * A separate entry point (`./testing`): `mod.ts` does not re-export it.
 *
 * @example An hour of sleeps in milliseconds
 * ```ts
 * import assert from "node:assert/strict";
 * import { getHub, sleep } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 *
 * const elapsed = await withVirtualTime(async () => {
 *   const start = getHub().now();
 *   await sleep(3_600_000); // one hour
 *   return getHub().now() - start;
 * });
 * assert.equal(elapsed, 3_600_000);
 * ```
 *
 * @module
 */

import {
  checkFunction,
  checkMs,
  checkOptions,
  describe,
  optionNames,
} from "./_util/mod.ts";
import {
  als,
  coreOnHost,
  currentTask,
  DEAD,
  describeWaits,
  type HubCore,
  hubCoreOf,
  nativeClearTimeout,
  nativeNow,
  nativeSetImmediate,
  nativeSetTimeout,
  RUNNING,
  throwInto,
  type TimerHost,
  trackOp,
} from "./_core/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import {
  type BlockedWait,
  getHub,
  Hub,
  loopExitOf,
  waitDetail,
} from "./hub.ts";
import { killAll } from "./join_all.ts";
import { type Linkable, observeLinkables } from "./linkable.ts";
import {
  explainLoopExit,
  unwatchNativeTimers,
  watchNativeTimers,
} from "./_virtual_diag.ts";
// Loads the hub and greenlets, as every entry point does.
import "./mod.ts";

const OPTIONS = optionNames("auto", "strict");

/** The hubs of the virtual runs under way. */
const virtualCores = new Set<HubCore>();

/** What strict runs count as joined: waited on or linked to (see linkable.ts). */
const joined = new WeakSet<Linkable>();
let strictRuns = 0;

function noteJoined(x: Linkable): void {
  joined.add(x);
}

/** The longest delay a runtime timer takes (2³¹−1 ms). */
const MAX_DELAY = 2 ** 31 - 1;

/** How many instants `runAll()` fires before it gives up (an endless interval). */
const RUN_ALL_LIMIT = 10_000;

/** What a greenlet in an await the hub cannot see is described as waiting on. */
const UNSEEN =
  "an await the hub cannot see (a raw promise, unpatched I/O, a native timer); " +
  "virtual time does not wait for it: use a hub-aware wait or patch the I/O (patch.ts)";

/** The one native timer of a virtual hub's timers: armed, never real. */
interface Armed {
  fire: () => void;
}

/** A timer host whose clock moves only when told to. */
class VirtualHost implements TimerHost {
  time = 0;
  armed: Armed | null = null;
  readonly #onArm: () => void;

  constructor(onArm: () => void) {
    this.#onArm = onArm;
  }

  now(): number {
    return this.time;
  }

  arm(_delay: number, fire: () => void): unknown {
    const h: Armed = { fire };
    this.armed = h;
    this.#onArm();
    return h;
  }

  disarm(handle: unknown): void {
    if (this.armed === handle) this.armed = null;
  }

  ref(): void {
    // virtual timers keep nothing alive: the run does, until fn settles
  }
}

/** A `tick()` or `runAll()` in progress. */
interface Advance {
  /** The instant it stops at; Infinity for `runAll()`. */
  readonly target: number;
  instants: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

const PENDING = 0, FULFILLED = 1, REJECTED = 2;

/** One `withVirtualTime` call: its hub, its clock and the driver that moves it. */
class Run {
  readonly host: VirtualHost;
  readonly core: HubCore;
  readonly auto: boolean;
  readonly strict: boolean;
  /** The hub that called withVirtualTime. */
  readonly outer: HubCore;
  /** Greenlets that failed and were not joined then (strict). */
  readonly #unjoined: [Greenlet, unknown][] = [];
  advance: Advance | null = null;
  finished = false;
  #epoch = 0;
  #graceEpoch = -1;
  #stepArmed = false;
  #fnState = PENDING;
  #fnValue: unknown = undefined;
  #killing: Promise<unknown> | null = null;
  #killed = false;
  /** Real and virtual time when the clock began to keep real pace; -1: it does not. */
  #paceReal = -1;
  #paceVirtual = 0;
  #paceTimer: unknown = null;
  #resolve: (v: unknown) => void = noop;
  #reject: (e: unknown) => void = noop;

  constructor(auto: boolean, strict: boolean) {
    this.auto = auto;
    this.strict = strict;
    this.outer = hubCoreOf(currentTask());
    const host = this.host = new VirtualHost(this.request);
    const core = this.core = coreOnHost(host, (clock) => new Hub({ clock }));
    core.quiet.watcher = this.request;
    virtualCores.add(core);
    watchNativeTimers(core);
    if (strict) {
      if (strictRuns++ === 0) observeLinkables(noteJoined);
      const hub = core.hub as Hub;
      hub.handleError = (g, e) => this.#failed(g, e);
    }
  }

  /** Strict: a greenlet failed; unless joined already, the run may fail by it. */
  #failed(g: Greenlet, e: unknown): void {
    if (joined.has(g)) this.#report(g, e);
    else this.#unjoined.push([g, e]);
  }

  /** What the hub's own `handleError` does with a failure (it prints it). */
  #report(g: Greenlet, e: unknown): void {
    const hub = this.core.hub as Hub;
    Object.getPrototypeOf(hub).handleError.call(hub, g, e);
  }

  /** Runs `fn(clock)` as the hub's main; settles once fn and the hub are done. */
  start(
    fn: (clock: VirtualClock) => unknown,
    clock: VirtualClock,
  ): Promise<unknown> {
    const done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    let r: unknown;
    this.core.mainRuns();
    try {
      r = als.run(this.core.main, fn, clock);
    } catch (e) {
      this.#settled(REJECTED, e);
      return done;
    }
    Promise.resolve(r).then(
      (v) => this.#settled(FULFILLED, v),
      (e) => this.#settled(REJECTED, e),
    );
    this.request();
    return done;
  }

  /** The caller was killed or timed out: cancel fn's own waits. */
  abort(reason: unknown): void {
    if (!this.finished) throwInto(this.core.main, reason, null, true);
  }

  #settled(state: number, value: unknown): void {
    this.#fnState = state;
    this.#fnValue = value;
    this.request();
  }

  /** Something happened on the hub: look again once the runtime had a turn. */
  request = (): void => {
    this.#epoch++;
    if (this.#stepArmed || this.finished) return;
    this.#stepArmed = true;
    nativeSetImmediate(this.#step);
  };

  #step = (): void => {
    this.#stepArmed = false;
    if (this.finished) return;
    const quiet = this.core.quiet;
    const ending = this.#fnState !== PENDING;
    // by hand, tracked operations are the caller's to await, and once fn
    // has settled they do not hold its end: only the run queue counts
    if (this.auto && !ending && quiet.tracking) {
      this.#pace();
      return;
    }
    this.#stopPace();
    if (quiet.runnable) return; // told again when the run queue drains
    if (this.#graceEpoch !== this.#epoch) {
      // settled: give the runtime one more real turn (I/O already queued)
      this.#graceEpoch = this.#epoch;
      this.#stepArmed = true;
      nativeSetImmediate(this.#step);
      return;
    }
    if (ending && this.#complete()) return;
    this.#advance();
  };

  /** fn settled: kill what it left alive, then finish. Returns whether it is done. */
  #complete(): boolean {
    if (this.#killing === null) {
      const core = this.core;
      const left = core.liveOldestFirst()
        .filter((t) => t.state !== DEAD)
        .map((t) => core.greenletOf(t) as Greenlet);
      if (left.length === 0) {
        this.#finish();
        return true;
      }
      this.#killing = als.run(core.main, killAll, left).then(
        this.#killDone,
        this.#killDone,
      );
      return true;
    }
    if (this.#killed) {
      this.#finish();
      return true;
    }
    return false; // the killed greenlets' cleanup waits: the clock goes on
  }

  #killDone = (): void => {
    this.#killed = true;
    this.request();
  };

  #finish(): void {
    this.#stopPace();
    this.finished = true;
    const core = this.core;
    core.frozen = true;
    core.quiet.watcher = null;
    virtualCores.delete(core);
    unwatchNativeTimers(core);
    let failure: [Greenlet, unknown] | null = null;
    if (this.strict) {
      if (--strictRuns === 0) observeLinkables(null);
      // joined since it failed: only reported, as the hub does
      for (const [g, e] of this.#unjoined) {
        if (failure === null && !joined.has(g)) failure = [g, e];
        else this.#report(g, e);
      }
    }
    const a = this.advance;
    this.advance = null;
    a?.resolve();
    if (this.#fnState === FULFILLED && failure === null) {
      this.#resolve(this.#fnValue);
    } else if (this.#fnState === FULFILLED) this.#reject(failure![1]);
    else {
      if (failure !== null) this.#report(failure[0], failure[1]);
      this.#reject(this.#fnValue);
    }
  }

  /**
   * A tracked operation is pending (real I/O) and the clock is automatic:
   * it keeps real pace from now on, so the next instant it may move to
   * comes after as many real milliseconds.
   */
  #pace(): void {
    if (this.#paceReal < 0) {
      this.#paceReal = nativeNow();
      this.#paceVirtual = this.host.time;
    }
    if (this.#paceTimer !== null) nativeClearTimeout(this.#paceTimer);
    this.#paceTimer = null;
    const timers = this.core.timers;
    const goal = timers.hasRef ? timers.nextDeadline : Infinity;
    if (goal === Infinity) return; // nothing to move to: wait for the operation
    const delay = goal - this.#paceVirtual - (nativeNow() - this.#paceReal);
    if (delay <= 0) {
      this.#advance(); // as much real time has passed
      return;
    }
    this.#paceTimer = nativeSetTimeout(
      this.#paced,
      Math.min(MAX_DELAY, Math.ceil(delay)),
    );
  }

  #paced = (): void => {
    this.#paceTimer = null;
    if (this.finished) return;
    if (this.core.quiet.tracking) this.#pace();
    else this.request();
  };

  #stopPace(): void {
    this.#paceReal = -1;
    if (this.#paceTimer !== null) {
      nativeClearTimeout(this.#paceTimer);
      this.#paceTimer = null;
    }
  }

  /** The hub has settled (or kept real pace): move the clock if it may. */
  #advance(): void {
    const timers = this.core.timers;
    const a = this.advance;
    const next = timers.nextDeadline;
    if (a !== null && a.target !== Infinity) {
      // tick(ms): every timer due by the target, each at its instant
      if (next <= a.target) {
        this.#jump(next);
      } else {
        this.host.time = Math.max(this.host.time, a.target);
        this.advance = null;
        a.resolve();
      }
      return;
    }
    if (!this.auto && a === null) return; // by hand, and nobody turns it
    if (!timers.hasRef) {
      // nothing armed keeps anything alive
      if (a !== null) {
        this.advance = null;
        a.resolve();
      } else if (this.#killing !== null) {
        this.#finish(); // what fn left cannot end (an unseen await): leave it
      } else {
        this.#stuck();
      }
      return;
    }
    if (a !== null && ++a.instants > RUN_ALL_LIMIT) {
      this.advance = null;
      a.reject(
        new RangeError(
          `Cannot run all timers: timers are still armed after ${RUN_ALL_LIMIT} instants (an endless interval, or a greenlet that sleeps in a loop?); use tick(ms), received ${timers.size} armed at ${this.host.time} ms`,
        ),
      );
      return;
    }
    this.#jump(next);
  }

  /** Jumps to `deadline` and fires what is due there. */
  #jump(deadline: number): void {
    const host = this.host;
    const armed = host.armed;
    if (deadline > host.time) host.time = deadline;
    if (armed !== null) {
      host.armed = null;
      armed.fire(); // the hub's timers run: wake-ups go to its run queue
    }
    this.request(); // even if what fired woke nothing
  }

  /**
   * Nothing runnable, nothing tracked, no timer that keeps anything alive,
   * and fn has not settled: a LoopExit naming what waits.
   */
  #stuck(): void {
    const core = this.core;
    const main = core.main;
    const blocked: BlockedWait[] = [];
    const fnWaits = this.#fnState === PENDING;
    for (const t of [main, ...core.liveOldestFirst()]) {
      const what = describeWaits(t, waitDetail) ??
        ((t === main ? fnWaits : t.state === RUNNING) ? UNSEEN : null);
      if (what !== null) {
        blocked.push({
          greenlet: core.greenletOf(t) as Greenlet,
          waitingOn: what,
        });
      }
    }
    const error = explainLoopExit(
      loopExitOf(core, blocked),
      core,
      this.outer,
      !virtualCores.has(this.outer),
    );
    if (main.waits !== null) {
      // as the hub does when the event loop runs dry: thrown into main's waits
      throwInto(main, error, null, false);
      return;
    }
    // fn sits in an await the hub cannot see: nothing can reach it
    this.#fnState = REJECTED;
    this.#fnValue = error;
    const left = core.liveOldestFirst().filter((t) => t.state !== DEAD);
    this.#finish();
    for (const t of left) {
      void (core.greenletOf(t) as Greenlet).kill(undefined, { block: false });
    }
  }

  /** Starts `tick(ms)` (target) or `runAll()` (Infinity). */
  startAdvance(action: string, target: number): Promise<void> {
    if (this.auto) {
      throw new TypeError(
        `Cannot ${action}: this clock advances by itself; pass { auto: false } to withVirtualTime to advance it by hand, received ${
          describe({ auto: true })
        }`,
      );
    }
    if (this.finished) {
      return Promise.reject(
        new Error(
          `Cannot ${action}: its withVirtualTime has settled and the clock has stopped, received the clock at ${this.host.time} ms`,
        ),
      );
    }
    if (this.advance !== null) {
      return Promise.reject(
        new Error(
          `Cannot ${action}: a tick() or runAll() is still running; await it first, received the clock at ${this.host.time} ms`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.advance = { target, instants: 0, resolve, reject };
      this.request();
    });
  }
}

function noop(): void {}

let makeClock: (run: Run) => VirtualClock;

/**
 * The clock of a {@linkcode withVirtualTime} run, handed to its function.
 * It reads 0 when the run starts and moves only in jumps, to the next
 * timer's deadline, when the hub has settled: by itself (the default), or,
 * with `{ auto: false }`, only when `tick(ms)` or `runAll()` moves it. The
 * hub reads the same time: `getHub().now()` inside the run equals
 * `clock.now`.
 *
 * @example Advancing by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 *
 * await withVirtualTime(async (clock) => {
 *   const log: string[] = [];
 *   spawn(async () => {
 *     await sleep(100);
 *     log.push(`woke at ${clock.now}`);
 *   });
 *   await clock.tick(99); // every timer due by +99 ms: none
 *   assert.deepEqual(log, []);
 *   await clock.tick(1);
 *   assert.deepEqual(log, ["woke at 100"]);
 *   assert.equal(clock.now, 100);
 * }, { auto: false });
 * ```
 */
export class VirtualClock {
  readonly #run: Run;

  static {
    makeClock = (run) => new VirtualClock(run);
  }

  /** Made by {@linkcode withVirtualTime} only. */
  private constructor(run: Run) {
    this.#run = run;
  }

  /** The virtual time in milliseconds since the run started. */
  get now(): number {
    return this.#run.host.time;
  }

  /**
   * Whether it advances by itself (the default) rather than only by
   * `tick()` and `runAll()` (`withVirtualTime(fn, { auto: false })`).
   */
  get auto(): boolean {
    return this.#run.auto;
  }

  /**
   * Moves the clock `ms` milliseconds forward, by hand: every timer due by
   * then fires at its own instant, in deadline then arming order, and the
   * hub runs until nothing is runnable (for one real turn) before the next
   * instant and before the promise resolves, with the clock at exactly
   * `now + ms`. It does not wait for tracked operations (real I/O): await
   * them yourself. Only with `{ auto: false }`.
   *
   * @param ms Milliseconds to advance (≥ 0, finite).
   * @returns A promise that resolves when the clock has reached the time
   * and the hub has settled.
   * @throws {TypeError} On a clock that advances by itself (auto).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Timeout } from "./mod.ts";
   * import { withVirtualTime } from "./testing.ts";
   * await withVirtualTime(async (clock) => {
   *   const t = Timeout.startNew(50);
   *   await clock.tick(49);
   *   assert.equal(t.pending, true);
   *   await clock.tick(1);
   *   assert.equal(t.pending, false); // fired at +50 ms
   * }, { auto: false });
   * ```
   */
  tick(ms: number): Promise<void> {
    checkMs("tick VirtualClock", ms);
    if (ms === Infinity) {
      throw new RangeError(
        `Cannot tick VirtualClock: ms must be finite (runAll() runs every timer), received ${
          describe(ms)
        }`,
      );
    }
    return this.#run.startAdvance(
      "tick VirtualClock",
      this.#run.host.time + ms,
    );
  }

  /**
   * Moves the clock, by hand, from timer to timer until no timer that keeps
   * anything alive is armed (unref'd ones do not count), letting the hub
   * run until nothing is runnable at each instant (as `tick`, it does not
   * wait for tracked operations). Rejects with a `RangeError` after 10,000
   * instants (an endless interval). Only with `{ auto: false }`.
   *
   * @returns A promise that resolves when no timer is left.
   * @throws {TypeError} On a clock that advances by itself (auto).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getHub, sleep, spawn } from "./mod.ts";
   * import { withVirtualTime } from "./testing.ts";
   * await withVirtualTime(async (clock) => {
   *   const g = spawn(async () => {
   *     for (let i = 0; i < 3; i++) await sleep(1000);
   *   });
   *   await clock.runAll();
   *   assert.ok(g.dead);
   *   assert.equal(getHub().now(), 3000);
   * }, { auto: false });
   * ```
   */
  runAll(): Promise<void> {
    return this.#run.startAdvance("run all timers", Infinity);
  }

  /**
   * `VirtualClock(1500 ms, auto)`: how it shows in messages and
   * `console.log`.
   *
   * @returns The time and the mode.
   */
  toString(): string {
    return `VirtualClock(${this.now} ms, ${this.auto ? "auto" : "by hand"})`;
  }
}

/**
 * Options for {@linkcode withVirtualTime}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type VirtualTimeOptions, withVirtualTime } from "./testing.ts";
 * const options: VirtualTimeOptions = { auto: false };
 * assert.equal(await withVirtualTime((clock) => clock.auto, options), false);
 * ```
 */
export interface VirtualTimeOptions {
  /**
   * Advance the clock by itself whenever the hub has settled (default
   * true); false: only `clock.tick(ms)` and `clock.runAll()` move it.
   */
  auto?: boolean | undefined;
  /**
   * Fail the run when a greenlet started inside it fails and nothing
   * joined it (default true): `withVirtualTime` rejects with that
   * greenlet's error, even though `fn` returned. Joined means waited on or
   * linked to — `join()`, `get()`, `result()`, `joinAll`, `wait`, `link` —
   * before or after it failed, before the run ends; such failures (and
   * further unjoined ones) go to the hub's `handleError` as always. A
   * failure the test expects is declared with {@linkcode capturingErrors}
   * (or its own `getHub().handleError`). false: failures are only reported.
   */
  strict?: boolean | undefined;
}

/**
 * Runs `fn(clock)` on a fresh hub whose time is virtual, and resolves with
 * what `fn` returns (or rejects with what it throws).
 *
 * - **Where it runs.** `fn` runs as the new hub's main: inside it (and in
 *   everything it spawns or awaits), `getHub()`, `getCurrent()` and every
 *   primitive — `sleep`, timeouts, locks, queues, pools, patched timers —
 *   use that hub. Code outside `fn` keeps its own hub.
 * - **How time moves.** The clock starts at 0 ms. Whenever nothing is
 *   runnable and no tracked operation (a patched `fetch`, file read,
 *   subprocess…) is pending, and one real turn of the runtime brought
 *   nothing new, it jumps to the earliest timer's deadline and fires what
 *   is due there; timers with equal deadlines fire in arming order, as in
 *   real time. The greenlets' own code takes no virtual time.
 * - **Tracked operations keep real pace.** While one is pending (real
 *   I/O), the clock does not jump: it moves at real speed, so a timer due
 *   in 100 ms fires after 100 real ms — a timeout around a request that is
 *   never answered still fires — and an operation that ends first takes no
 *   virtual time.
 * - **By hand.** With `{ auto: false }` the clock moves only by
 *   `clock.tick(ms)` and `clock.runAll()`, whatever real I/O is pending:
 *   a test can, say, wait for a request to reach its server, then tick a
 *   deadline past it.
 * - **What it cannot see.** A raw promise, unpatched I/O or a native timer
 *   is invisible to the hub: virtual time does not wait for it (only for
 *   the one real turn before each jump). If `fn` has not settled and
 *   nothing visible is left — nothing runnable, nothing tracked, no timer
 *   that keeps anything alive — it fails with a {@linkcode LoopExit} that
 *   names each greenlet and what it waits on: thrown into `fn`'s waits
 *   when it waits on the hub, else `withVirtualTime` rejects with it.
 *   Patch I/O (`patch.ts`) or wait on hub-aware operations inside `fn`.
 *   It also says which hub each waiter is on (greenlets of the caller's
 *   hub — a fixture made outside `fn` — are listed apart), the timers
 *   armed on the real clock, and the native timers armed through the
 *   unpatched globals while `fn` ran (while a run is under way, unpatched
 *   global `setTimeout`/`setInterval`/`clearTimeout`/`clearInterval` are
 *   pass-throughs that note them; put back when the last run ends).
 * - **When it ends.** Once `fn` has settled, greenlets it left alive are
 *   killed (as `killAll`; the clock runs while they clean up), then the
 *   clock stops for good: a wait or timer still pending on the hub never
 *   ends.
 * - **Strict** (the default; `{ strict: false }` turns it off): a greenlet
 *   started inside the run that fails and that nothing joined (waited on
 *   or linked to) fails the run — it rejects with that greenlet's error
 *   even though `fn` returned. Expected failures are declared with
 *   {@linkcode capturingErrors}.
 * - For the caller, the run is one tracked operation of its own hub: a
 *   kill or `Timeout` of the caller rejects the call at once and cancels
 *   `fn`'s waits.
 *
 * Only the hub's clock is virtual: `Date.now()` and `performance.now()`
 * stay real, and timers not on the hub (unpatched `setTimeout`) stay real.
 *
 * @param fn The test body (may be async); receives the {@linkcode VirtualClock}.
 * @param options `auto` (default true): advance by itself; false: by
 * `clock.tick(ms)` and `clock.runAll()` only. `strict` (default true):
 * an unjoined greenlet failure fails the run.
 * @returns A promise of what `fn` returns.
 *
 * @example The tutorial's semaphore program, 1.5 s of sleeps at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { getHub, joinAll, Semaphore, sleep, spawn } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 *
 * const log: string[] = [];
 * const elapsed = await withVirtualTime(async () => {
 *   const sem = new Semaphore(1);
 *   const f = async (name: string, ms: number) => {
 *     for (let i = 0; i < 5; i++) {
 *       await sem.acquire();
 *       log.push(`${name} ${i}`);
 *       sem.release();
 *       await sleep(ms);
 *     }
 *   };
 *   await joinAll([spawn(f, "f1", 100), spawn(f, "f2", 300)]);
 *   return getHub().now();
 * });
 * assert.equal(log.join(", "), "f1 0, f2 0, f1 1, f1 2, f2 1, f1 3, f1 4, f2 2, f2 3, f2 4");
 * assert.equal(elapsed, 1500); // f2's five 300 ms sleeps
 * ```
 *
 * @example An await the hub cannot see is a clear error, not a hang
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoopExit } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 * await assert.rejects(
 *   withVirtualTime(() => new Promise(() => {})),
 *   (e: unknown) => e instanceof LoopExit && /"main" #0> is waiting on an await the hub cannot see/.test(e.message),
 * );
 * ```
 *
 * @example Strict: a background failure fails the test
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 * await assert.rejects(
 *   withVirtualTime(async () => {
 *     spawn(async function flusher() {
 *       await sleep(1000);
 *       throw new Error("cannot flush");
 *     });
 *     await sleep(5000); // nothing joins the flusher
 *     return "passed?";
 *   }),
 *   /^Error: cannot flush$/,
 * );
 * ```
 */
export function withVirtualTime<T>(
  fn: (clock: VirtualClock) => T,
  options?: VirtualTimeOptions,
): Promise<Awaited<T>> {
  checkFunction("run withVirtualTime", "fn", fn);
  checkOptions("run withVirtualTime", options, OPTIONS);
  const auto = options?.auto ?? true;
  if (typeof auto !== "boolean") {
    throw new TypeError(
      `Cannot run withVirtualTime: auto must be a boolean, received ${
        describe(auto)
      }`,
    );
  }
  const strict = options?.strict ?? true;
  if (typeof strict !== "boolean") {
    throw new TypeError(
      `Cannot run withVirtualTime: strict must be a boolean, received ${
        describe(strict)
      }`,
    );
  }
  const run = new Run(auto, strict);
  const clock = makeClock(run);
  return trackOp(
    "withVirtualTime",
    () => run.start(fn, clock),
    (reason) => run.abort(reason),
  ) as Promise<Awaited<T>>;
}

/**
 * Collects what the current hub's `handleError` receives — each greenlet
 * failure, as `"name: error"` (`${greenlet.name}: ${String(error)}`) —
 * while `fn(errors)` runs, instead of printing it; then puts the handler
 * back exactly as it was (an own property only if there was one), even
 * when `fn` throws. Failures it collects are expected ones: strict virtual
 * time does not fail the run by them.
 *
 * @param fn The code whose reported failures are collected; gets the list,
 * filled as failures happen.
 * @returns A promise that settles as `fn`'s does.
 * @throws {TypeError} At once, if `fn` is not a function.
 *
 * @example A background failure a test expects
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn } from "./mod.ts";
 * import { capturingErrors, withVirtualTime } from "./testing.ts";
 * await withVirtualTime(() =>
 *   capturingErrors(async (errors) => {
 *     spawn(async function worker() {
 *       await sleep(100);
 *       throw new Error("disk full");
 *     });
 *     await sleep(200);
 *     assert.deepEqual(errors, ["worker: Error: disk full"]);
 *   })
 * );
 * ```
 */
export function capturingErrors(
  fn: (errors: string[]) => Promise<void>,
): Promise<void> {
  checkFunction("capture errors", "fn", fn);
  return capture(fn);
}

async function capture(
  fn: (errors: string[]) => Promise<void>,
): Promise<void> {
  const hub = getHub();
  const own = Object.hasOwn(hub, "handleError");
  const original = hub.handleError;
  const errors: string[] = [];
  hub.handleError = (g, e) => void errors.push(`${g.name}: ${e}`);
  try {
    await fn(errors);
  } finally {
    // put back exactly what was there: an own property only if there was one
    // (else a failing test would leave the next one's recorder shadowed)
    if (own) hub.handleError = original;
    else delete (hub as { handleError?: unknown }).handleError;
  }
}

/**
 * Runs `fn()` and resolves with what the current hub's `handleError`
 * received meanwhile (as `"name: error"`, in order), for the caller to
 * assert after it — {@linkcode capturingErrors} in one call.
 *
 * @param fn The code whose reported failures are collected.
 * @returns The reported failures, in order.
 * @throws {TypeError} At once, if `fn` is not a function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "./mod.ts";
 * import { errorsOf, withVirtualTime } from "./testing.ts";
 * const errors = await withVirtualTime(() =>
 *   errorsOf(async () => {
 *     await spawn(function parse() {
 *       throw new SyntaxError("bad row");
 *     }).join();
 *   })
 * );
 * assert.deepEqual(errors, ["parse: SyntaxError: bad row"]);
 * ```
 */
export function errorsOf(fn: () => Promise<void>): Promise<string[]> {
  checkFunction("collect errors", "fn", fn);
  return collect(fn);
}

async function collect(fn: () => Promise<void>): Promise<string[]> {
  let seen: string[] = [];
  await capture(async (errors) => {
    seen = errors;
    await fn();
  });
  return seen;
}
