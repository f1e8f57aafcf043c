/**
 * The hub: gevent's event loop, rebuilt on the runtime's own.
 *
 * A hub owns a FIFO run queue drained on microtasks, a timer heap with one
 * native timer armed for the earliest deadline, and the greenlets it runs.
 * Every wake-up of a greenlet — a finished sleep, a released lock, a kill —
 * goes through the run queue, so greenlets resume in the order they were
 * made runnable — one at a time: the next resumes only when the one before
 * parks at a switch point or is found away in an await the hub does not own,
 * so code between two switch points runs alone, as in gevent. After a few
 * milliseconds of continuous running the hub
 * hands the thread back to the runtime for one turn, so timers and I/O
 * never starve.
 *
 * Most programs never touch the hub directly: {@linkcode getHub} returns the
 * default one and every primitive uses it.
 *
 * @module
 */

import {
  actFor,
  creationSiteOf,
  currentScope,
  currentTask,
  describeWaits,
  formatRunInfo,
  greenletFactory,
  greenletOf,
  HubCore,
  hubCoreOf,
  nativeConsoleError,
  nativeNow,
  realTimerHost,
  setFallbackTask,
  throwInto,
  waitOn,
  type WaitOptions,
  watchLoopDry,
  yieldNow,
} from "./_core/mod.ts";
import {
  checkFunction,
  checkOptions,
  checkTimeout,
  describe,
  formatError,
  HOLDERS,
  inspectAsString,
  optionNames,
} from "./_util/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import type { ThreadPool } from "./threadpool.ts";

/** Makes `Hub.threadpool`; set when `threadpool.ts` is loaded. */
let makeThreadPool: (() => ThreadPool) | null = null;
/** Ends a hub's pool at once (terminates its threads). */
let endThreadPool: (pool: ThreadPool) => void = () => {};

/**
 * Called by `threadpool.ts` at load (so that `mod.ts` loads no worker code).
 *
 * @param make Makes a hub's pool (size = the cores).
 * @param end Closes a pool at once, terminating its threads (no wait).
 */
export function registerThreadPool(
  make: () => ThreadPool,
  end: (pool: ThreadPool) => void,
): void {
  makeThreadPool = make;
  endThreadPool = end;
}

/**
 * Where a hub reads the time. The default reads `performance.now()`;
 * a virtual clock can be plugged in for tests.
 *
 * @example Counting time in steps of 10 ms
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub, type Clock } from "./mod.ts";
 * let t = 0;
 * const clock: Clock = { now: () => (t += 10) };
 * const hub = new Hub({ clock });
 * assert.equal(hub.now(), 10);
 * ```
 */
export interface Clock {
  /** The current time in milliseconds (any origin; only differences count). */
  now(): number;
}

const realClock: Clock = { now: nativeNow };

const HUB_OPTIONS = optionNames("clock");
const RUN_INFO_OPTIONS = optionNames("all");

/**
 * Options for {@linkcode Hub}'s constructor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub, type HubOptions } from "./mod.ts";
 * const options: HubOptions = { clock: { now: () => performance.now() } };
 * assert.ok(new Hub(options).now() >= 0);
 * ```
 */
export interface HubOptions {
  /** Where the hub reads the time (ms). Defaults to `performance.now()`. */
  clock?: Clock | undefined;
}

/**
 * One entry of {@linkcode LoopExit.blocked}: a greenlet and what it waits on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BlockedWait, getHub, LoopExit } from "./mod.ts";
 * const entry: BlockedWait = { greenlet: getHub().main, waitingOn: "Semaphore(counter=0, waiters=1)" };
 * assert.equal(new LoopExit([entry]).blocked.length, 1);
 * ```
 */
export interface BlockedWait {
  /** The greenlet that waits. */
  greenlet: Greenlet;
  /** What it waits on, e.g. `Semaphore(counter=0, waiters=2)`. */
  waitingOn: string;
}

/**
 * Thrown into the main program's wait when nothing left in the process
 * could ever wake it: no runnable greenlet, no timer, no pending I/O.
 * gevent's `LoopExit`, with the list of what is stuck. Printed (uncaught,
 * or by `console.log`), it shows its message — each blocked greenlet and
 * what it waits on — and its stack; `blocked` is there to read, not
 * printed.
 *
 * @example Catching a deadlock
 * ```ts
 * import assert from "node:assert/strict";
 * import { getHub, LoopExit } from "./mod.ts";
 * let caught: unknown;
 * try {
 *   // await new Semaphore(0).acquire(); // would end here, in a main() not awaited at top level
 *   // Stands in for that deadlock here: what the hub throws then.
 *   throw new LoopExit([{ greenlet: getHub().main, waitingOn: "Semaphore(counter=0, waiters=1)" }]);
 * } catch (e) {
 *   caught = e;
 *   if (e instanceof LoopExit) console.error(e.blocked);
 * }
 * assert.ok(caught instanceof LoopExit);
 * assert.match(caught.message, /<Greenlet "main" #0> is waiting on Semaphore\(counter=0, waiters=1\)/);
 * assert.equal(new LoopExit("stuck").message, "stuck"); // gevent's LoopExit(message)
 * ```
 */
export class LoopExit extends Error {
  // private, behind a getter: printed, the error shows its message (which
  // lists them) and its stack
  readonly #blocked: readonly BlockedWait[];

  /**
   * Creates the error from the list of blocked greenlets (the message lists
   * them), or from a message, as gevent's `LoopExit(message)`.
   *
   * @param blocked The greenlets that were blocked and what each waits on,
   * or the message; omitted: "This operation would block forever".
   */
  constructor(blocked: readonly BlockedWait[] | string = []) {
    let message: string;
    let list: readonly BlockedWait[];
    if (typeof blocked === "string") {
      message = blocked;
      list = [];
    } else if (Array.isArray(blocked)) {
      list = blocked;
      message = list.length === 0
        ? "This operation would block forever"
        : "This operation would block forever: nothing is left that could " +
          `wake ${list.length === 1 ? "this greenlet" : "these greenlets"}:` +
          list.map((b) => {
            const site = b.greenlet.spawnSite;
            const at = site === null ? "" : ` (spawned at ${site})`;
            return `\n  ${b.greenlet}${at} is waiting on ${b.waitingOn}`;
          }).join("");
    } else {
      throw new TypeError(
        `Cannot create LoopExit: the argument must be a message or a list of blocked greenlets, received ${
          describe(blocked)
        }`,
      );
    }
    super(message);
    this.name = "LoopExit";
    this.#blocked = list;
  }

  /**
   * Every greenlet that was blocked, main included, with what it waits on
   * (empty when made from a message).
   */
  get blocked(): readonly BlockedWait[] {
    return this.#blocked;
  }
}

/**
 * Options for {@linkcode Hub.runInfo} and `formatRunInfo`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRunInfo, type RunInfoOptions } from "./mod.ts";
 * const options: RunInfoOptions = { all: true };
 * assert.equal(typeof formatRunInfo(options), "string");
 * ```
 */
export interface RunInfoOptions {
  /**
   * Also list the patched timers that keep nothing alive (unref'd, as the
   * runtime's own — undici's inside Node's `fetch` — and background timers
   * of libraries are); default false.
   */
  all?: boolean;
}

let defaultHub: Hub | null = null;

/**
 * The event loop of gevent-ts: a FIFO run queue, a timer heap, and the
 * greenlets it runs. One default hub serves the thread ({@linkcode getHub});
 * `new Hub({ clock })` makes an isolated one.
 *
 * @example Overriding error reporting
 * ```ts
 * import assert from "node:assert/strict";
 * import { getHub, spawn } from "./mod.ts";
 * const hub = getHub();
 * const seen: unknown[] = [];
 * const original = hub.handleError;
 * hub.handleError = (_greenlet, error) => void seen.push(error);
 * await spawn(() => { throw new Error("boom"); }).join();
 * hub.handleError = original;
 * assert.equal(seen.length, 1);
 * ```
 */
export class Hub {
  /** The clock this hub reads time from (ms). */
  readonly clock: Clock;
  readonly #core: HubCore;
  readonly #loopDry = { onLoopDry: (): boolean => this.#onLoopDry() };

  static {
    setFallbackTask(() => {
      if (defaultHub === null) {
        defaultHub = new Hub();
        defaultHub.#core.mainRuns(); // the program is its main
      }
      return defaultHub.#core.main;
    });
    inspectAsString(this);
  }

  /**
   * Creates an isolated hub (most code uses the default one, `getHub()`).
   *
   * @param options `clock`: where the hub reads time (ms); defaults to
   * `performance.now()`.
   */
  constructor(options: HubOptions = {}) {
    checkOptions("create Hub", options, HUB_OPTIONS);
    const clock = options.clock ?? realClock;
    if (clock === null || typeof clock.now !== "function") {
      throw new TypeError(
        `Cannot create Hub: clock must have a now() method, received ${
          describe(clock)
        }`,
      );
    }
    this.clock = clock;
    this.#core = new HubCore(
      this,
      realTimerHost(() => clock.now()),
      clock === realClock,
    );
    watchLoopDry(this.#loopDry);
  }

  #threadpool: ThreadPool | null = null;

  /**
   * This hub's {@linkcode ThreadPool}, made on first use with as many
   * threads as cores and no module (and made again once closed): its
   * tasks are named by URL,
   * `"<module>#<export>"`. Needs the `./threadpool` entry point loaded.
   * Its idle threads do not keep the process alive, and the hub closes it
   * (terminates its threads) when the event loop runs dry — at the
   * program's end.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getHub } from "./mod.ts";
   * import "./threadpool.ts";
   *
   * const add = "data:text/javascript,export const add = (a, b) => a + b;#add";
   * assert.equal(await getHub().threadpool.apply(add, 1, 2), 3);
   * await getHub().threadpool.close();
   * ```
   */
  get threadpool(): ThreadPool {
    if (this.#threadpool === null || this.#threadpool.closed) {
      if (makeThreadPool === null) {
        throw new Error(
          "Cannot make hub.threadpool: import the ./threadpool entry point first",
        );
      }
      this.#threadpool = makeThreadPool();
    }
    return this.#threadpool;
  }

  /** The greenlet that code outside every greenlet runs as. */
  get main(): Greenlet {
    return this.#core.greenletOf(this.#core.main) as Greenlet;
  }

  /**
   * `<Hub: 2 greenlets alive>`: how it shows in messages, `console.log` and
   * `util.inspect`.
   *
   * @returns The number of live greenlets (main not counted).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub } from "./mod.ts";
   * assert.equal(String(new Hub()), "<Hub: 0 greenlets alive>");
   * ```
   */
  toString(): string {
    const n = this.#core.quiet.live;
    return `<Hub: ${n} greenlet${n === 1 ? "" : "s"} alive>`;
  }

  /**
   * The current time of this hub's clock.
   *
   * @returns Milliseconds (origin depends on the clock; only differences count).
   */
  now(): number {
    return this.clock.now();
  }

  /**
   * Spawns a greenlet on this hub: `fn(...args)` starts the next time the hub
   * runs. See {@linkcode spawn}.
   *
   * @param fn The function to run (may be async).
   * @param args Arguments passed to `fn`.
   * @returns The new, started {@linkcode Greenlet}.
   */
  spawn<A extends unknown[], R>(
    fn: (...args: A) => R,
    ...args: A
  ): Greenlet<Awaited<R>> {
    checkFunction("spawn", "fn", fn);
    return greenletFactory().spawn(
      this.#core.main,
      fn as (...args: never[]) => unknown,
      args,
      Hub.prototype.spawn,
    ) as Greenlet<Awaited<R>>;
  }

  /**
   * Called with every greenlet that fails (ends with an error other than
   * `GreenletExit`) and every error thrown by a callback the hub runs.
   * The default prints `<Greenlet "name" #id: fn(args)> (spawned at
   * file:line:col) failed with <stack>` to stderr (the spawn site when it
   * was recorded: see {@linkcode Greenlet.spawnSite}), then each error of
   * the `cause` chain as `Caused by: <stack>`. Assign a function to this property (or override
   * in a subclass) to route errors elsewhere, e.g. to a structured logger.
   * It never causes an unhandled rejection or an exit.
   *
   * @param greenlet The greenlet that failed (or whose callback failed).
   * @param error What it threw.
   *
   * @example Routing failures and the monitor's reports to a structured logger
   * ```ts
   * import assert from "node:assert/strict";
   * import { getHub, spawn, startMonitor, stopMonitor } from "./mod.ts";
   * const records: Record<string, unknown>[] = [];
   * // pino, winston…: a record is written as JSON
   * const write = (r: Record<string, unknown>) => void records.push(JSON.parse(JSON.stringify(r)));
   * const logger = { error: write, warn: write };
   *
   * const hub = getHub();
   * const original = hub.handleError;
   * hub.handleError = (greenlet, error) =>
   *   logger.error({
   *     msg: "greenlet failed",
   *     greenlet, // its toJSON(): id, name, state, spawnSite, parent, outcome
   *     err: String(error),
   *     cause: error instanceof Error ? String(error.cause) : undefined,
   *   });
   * startMonitor({
   *   report: (r) =>
   *     logger.warn({
   *       msg: "hub blocked",
   *       greenlet: r.greenlet,
   *       switchSite: r.switchSite,
   *       ms: Math.round(r.duration),
   *     }),
   * });
   *
   * const g = spawn(function fetchPage(_url: string) {
   *   throw new TypeError("fetch failed", { cause: new Error("bad port") });
   * }, "/a");
   * await g.join();
   * stopMonitor();
   * hub.handleError = original;
   * assert.deepEqual(records, [{
   *   msg: "greenlet failed",
   *   greenlet: {
   *     id: g.id,
   *     name: "fetchPage",
   *     state: "dead",
   *     spawnSite: g.spawnSite, // file:line:col of the spawn(…) above
   *     parent: 0,
   *     successful: false,
   *     exception: "TypeError: fetch failed",
   *   },
   *   err: "TypeError: fetch failed",
   *   cause: "Error: bad port",
   * }]);
   * assert.match(g.spawnSite!, /:\d+:\d+$/);
   * ```
   */
  handleError(greenlet: Greenlet, error: unknown): void {
    const site = greenlet.spawnSite;
    nativeConsoleError(
      `${greenlet}${site === null ? "" : ` (spawned at ${site})`} failed with ${
        formatError(error)
      }`,
    );
  }

  /**
   * The greenlet tree of this hub, one line per greenlet under its parent:
   * `<Greenlet "name" #id: fn(args)>`, its state (running, waiting on what —
   * a sleep, which lock, which fetch, with the time left when the wait has
   * a timeout —, scheduled to start), where it was spawned (when spawn sites
   * are recorded, see `startMonitor`), and the patched timers it armed.
   * Main is the root. Patched timers that keep nothing alive (unref'd: the
   * runtime's own, such as undici's inside Node's `fetch`) are left out
   * unless `all` is set.
   *
   * @param options `all`: list the unref'd patched timers too.
   * @returns The tree; an empty string when no greenlet is alive, main waits
   * on nothing and no patched timer is listed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub, sleep } from "./mod.ts";
   * let t = 0;
   * const hub = new Hub({ clock: { now: () => t } });
   * const g = hub.spawn(async function nap(ms: number) {
   *   await sleep(ms);
   * }, 3200);
   * await sleep(0);
   * t = 1000;
   * assert.equal(hub.runInfo(), [
   *   '<Greenlet "main" #0> running',
   *   `└─ <Greenlet "nap" #${g.id}: nap(3200)> waiting on sleep (2.2 s left)`,
   * ].join("\n"));
   * await g.kill();
   * ```
   */
  runInfo(options?: RunInfoOptions): string {
    checkOptions("format run info", options, RUN_INFO_OPTIONS);
    const all = options?.all ?? false;
    if (typeof all !== "boolean") {
      throw new TypeError(
        `Cannot format run info: all must be a boolean, received ${
          describe(all)
        }`,
      );
    }
    return formatRunInfo(this.#core, all);
  }

  /**
   * The event loop ran dry: releases `wait()` callers if the hub is quiet,
   * else ends main's waits with LoopExit. Returns whether it scheduled work.
   */
  #onLoopDry(): boolean {
    // what it settles (wait(), LoopExit), it settles for no greenlet
    return actFor("hub", (hub: Hub) => hub.#loopRanDry(), this, undefined);
  }

  #loopRanDry(): boolean {
    const core = this.#core;
    if (core.frozen) return false;
    const pool = this.#threadpool;
    if (pool !== null) {
      // the hub's end (or a pause its program resumes from, then the
      // getter makes a new pool): nothing runs on the pool, its idle
      // threads are terminated
      this.#threadpool = null;
      if (!pool.closed) endThreadPool(pool);
    }
    core.queue.noYield(); // the loop is dry: drain on microtasks
    if (core.quiet.releaseIfQuiet()) return true;
    const main = core.main;
    if (main.waits === null) return false;
    const blocked: BlockedWait[] = [];
    for (const t of [main, ...core.liveOldestFirst()]) {
      const what = describeWaits(t, waitDetail);
      if (what !== null) {
        blocked.push({
          greenlet: core.greenletOf(t) as Greenlet,
          waitingOn: what,
        });
      }
    }
    throwInto(main, loopExitOf(core, blocked), null, false);
    return true;
  }
}

/**
 * Internal (for testing.ts, not re-exported): the `LoopExit` of `core`'s
 * deadlock, its frames where main started to wait (the hub's own say
 * nothing) when that was recorded.
 */
export function loopExitOf(
  core: { readonly mainWaitSite: { frames(): string[] } | null },
  blocked: readonly BlockedWait[],
): LoopExit {
  const error = new LoopExit(blocked);
  const frames = core.mainWaitSite?.frames() ?? [];
  if (frames.length !== 0) {
    // Deno prints an uncaught error's message, then its stack's lines
    // after the first: there, the stack's first line is the message's
    const head = "Deno" in globalThis
      ? error.message.split("\n")[0]
      : error.message;
    error.stack = `${error.name}: ${head}\n${frames.join("\n")}`;
  }
  return error;
}

/**
 * Internal (for testing.ts, not re-exported): what a `LoopExit` adds to a
 * wait's source — where it was created (a greenlet joined: where it was
 * spawned) and who holds it.
 */
export function waitDetail(source: object): string | null {
  let target = source;
  if (creationSiteOf(source) === null) {
    const s = source as { target?: unknown; queue?: unknown };
    const t = s.target ?? s.queue;
    if (t !== null && typeof t === "object") target = t;
  }
  const parts: string[] = [];
  const spawned = (target as { spawnSite?: unknown }).spawnSite;
  const created = creationSiteOf(target);
  if (typeof spawned === "string") parts.push(`spawned at ${spawned}`);
  else if (created !== null) parts.push(`created at ${created}`);
  const holders = (target as { [HOLDERS]?: () => string | null })[HOLDERS];
  const held = typeof holders === "function" ? holders.call(target) : null;
  if (held !== null) parts.push(held);
  return parts.length === 0 ? null : parts.join("; ");
}

/**
 * The hub of the running code: the hub of the current greenlet, or the
 * process-wide default hub outside any greenlet (created on first use).
 *
 * @returns The current {@linkcode Hub}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getHub } from "./mod.ts";
 * const hub = getHub();
 * assert.equal(typeof hub.now(), "number");
 * ```
 */
export function getHub(): Hub {
  return hubCoreOf(currentTask()).hub as Hub;
}

/**
 * The greenlet running now, correct across any `await`. Code outside every
 * greenlet runs as `getHub().main`.
 *
 * @returns The running {@linkcode Greenlet}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getCurrent, spawn } from "./mod.ts";
 * const g = spawn(async function worker() {
 *   return getCurrent().name;
 * });
 * assert.equal(await g.get(), "worker");
 * ```
 */
export function getCurrent(): Greenlet {
  const task = currentTask();
  return greenletOf(task) as Greenlet;
}

/**
 * A sleep: what it waits on, and (as wait options) its timeout; run info
 * adds the time left.
 */
class Sleep implements WaitOptions {
  readonly timeout: number;
  constructor(ms: number) {
    this.timeout = ms;
  }
  toString(): string {
    return this.timeout === Infinity ? "sleep forever" : "sleep";
  }
}

/** The last sleep's options, shared by the next sleep of the same length. */
let lastSleep = new Sleep(Infinity);

/**
 * Suspends the current greenlet for `ms` milliseconds. `sleep(0)` (the
 * default) puts it at the tail of the run queue: everything runnable now
 * runs once before it resumes. A switch point: a kill or `Timeout` aimed at
 * the greenlet is thrown here.
 *
 * @param ms Milliseconds to sleep; 0 yields to every other runnable greenlet.
 * @returns A promise that resolves when the greenlet resumes.
 *
 * @example Two greenlets taking turns
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, sleep, spawn } from "./mod.ts";
 * const log: string[] = [];
 * async function f(name: string) {
 *   for (let i = 0; i < 2; i++) {
 *     log.push(`${name} ${i}`);
 *     await sleep(0);
 *   }
 * }
 * await joinAll([spawn(f, "a"), spawn(f, "b")]);
 * assert.deepEqual(log, ["a 0", "b 0", "a 1", "b 1"]);
 * ```
 */
export function sleep(ms = 0): Promise<void> {
  const scope = currentScope();
  if (ms === 0) return yieldNow(scope) as Promise<void>;
  let s = lastSleep;
  if (s.timeout !== ms) {
    checkTimeout("sleep", ms, "ms");
    lastSleep = s = new Sleep(ms);
  }
  return waitOn(scope, s, s).promise as Promise<void>;
}

/**
 * Resolves when the hub has nothing runnable left (gevent's `idle()`):
 * every greenlet is blocked or sleeping.
 *
 * @returns A promise that resolves once the run queue is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idle, spawn } from "./mod.ts";
 * const g = spawn(() => 42);
 * await idle();
 * assert.ok(g.dead);
 * ```
 */
export function idle(): Promise<void> {
  const scope = currentScope();
  return hubCoreOf(scope.task).quiet.waitIdle(scope);
}
