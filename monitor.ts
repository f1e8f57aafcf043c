/**
 * Seeing it run: a monitor that names the greenlet that blocked the hub
 * (gevent's monitor thread), and the greenlet tree as text.
 *
 * @module
 */

import {
  currentTask,
  greenletOf,
  nativeClearTimeout,
  nativeConsoleError,
  nativeNow,
  nativeSetTimeout,
  nativeTimerRef,
  subscribe,
  type Task,
  type Waiter,
} from "./_core/mod.ts";
import {
  checkOptions,
  checkTimeout,
  describe,
  optionNames,
  setSiteMode as setMode,
  siteMode,
  userSite,
} from "./_util/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import { getHub, type RunInfoOptions } from "./hub.ts";

/**
 * What the monitor reports when the thread was blocked too long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BlockingReport, startMonitor, stopMonitor } from "./mod.ts";
 * const reports: BlockingReport[] = [];
 * startMonitor({ report: (r) => void reports.push(r) });
 * stopMonitor();
 * assert.equal(reports.length, 0);
 * ```
 */
export interface BlockingReport {
  /**
   * The greenlet that ran without reaching a switch point, or null when the
   * block ended somewhere the hub does not see (a raw `await`, a callback).
   */
  greenlet: Greenlet | null;
  /** How long the thread was blocked, in milliseconds. */
  duration: number;
  /** The threshold in force, in milliseconds. */
  maxBlockingTime: number;
  /** Where the greenlet was spawned (see {@linkcode Greenlet.spawnSite}). */
  spawnSite?: string | null | undefined;
  /**
   * What the wait it resumed from before it blocked was on (`sleep`,
   * `sleep(0)`, `Semaphore(counter=0, waiters=0)`…); null when it blocked
   * from its start (or the monitor started while it ran).
   */
  resumedFrom?: string | null | undefined;
  /**
   * Where it reached the switch point that ended the block: the first frame
   * of your code on the stack then (`file:line:col`) — the blocking code
   * is just before it; null when it ended by returning.
   */
  switchSite?: string | null | undefined;
}

/**
 * Options for {@linkcode startMonitor}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRunInfo, type MonitorOptions, spawn, startMonitor, stopMonitor } from "./mod.ts";
 * const options: MonitorOptions = { maxBlockingTime: 50, spawnSites: false };
 * startMonitor(options);
 * const g = spawn(() => 1);
 * assert.doesNotMatch(formatRunInfo(), /spawned at/); // spawnSites: false
 * stopMonitor();
 * await g.join();
 * ```
 */
export interface MonitorOptions {
  /** Report blocks longer than this many milliseconds (default 100). */
  maxBlockingTime?: number | undefined;
  /** Called with each report; the default prints one line to stderr. */
  report?: ((report: BlockingReport) => void) | undefined;
  /** Record where each greenlet is spawned, for run info (default true). */
  spawnSites?: boolean | undefined;
}

const MONITOR_OPTIONS = optionNames(
  "maxBlockingTime",
  "report",
  "spawnSites",
);

/** The default report's line (without the `gevent-ts monitor: ` prefix). */
function formatBlockingReport(r: BlockingReport): string {
  const who = r.greenlet === null ? "the hub's thread" : String(r.greenlet);
  let text = `${who} blocked the hub for ${
    r.duration.toFixed(1)
  } ms (max ${r.maxBlockingTime} ms)`;
  if (r.greenlet === null) return text;
  text += r.resumedFrom == null
    ? ", from its start"
    : `, resumed from its wait on ${r.resumedFrom}`;
  text += r.switchSite == null
    ? " until it ended"
    : ` until its switch point at ${r.switchSite}`;
  return r.spawnSite == null ? text : `${text}; spawned at ${r.spawnSite}`;
}

function defaultReport(r: BlockingReport): void {
  nativeConsoleError(`gevent-ts monitor: ${formatBlockingReport(r)}`);
}

interface Running {
  max: number;
  report: (r: BlockingReport) => void;
  tick: number;
  handle: unknown;
  /** When the code running now started running (ms). */
  segStart: number;
  /** When the next tick is due (ms). */
  due: number;
  /** Removes the monitor's hooks. */
  unsubscribe: () => void;
}

let running: Running | null = null;

const YIELD = { toString: () => "sleep(0)" };

function safeReport(m: Running, r: BlockingReport): void {
  try {
    m.report(r);
  } catch (e) {
    nativeConsoleError("gevent-ts monitor: the report callback threw:", e);
  }
}

function onTick(): void {
  const m = running;
  if (m === null) return;
  const now = nativeNow();
  const late = now - m.due;
  // A block that ended without a switch point shows only as a late tick.
  if (late >= m.max && now - m.segStart >= m.max) {
    safeReport(m, { greenlet: null, duration: late, maxBlockingTime: m.max });
  }
  m.segStart = now; // the thread is free right now
  m.due = now + m.tick;
  m.handle = nativeSetTimeout(onTick, m.tick);
  nativeTimerRef(m.handle, false);
}

/**
 * Starts watching for greenlets that keep the thread too long: when a
 * greenlet runs for more than `maxBlockingTime` ms between two switch points
 * (a busy loop, a synchronous call such as `Atomics.wait` or
 * `Deno.readFileSync`), the monitor reports it and the duration. Blocks that
 * end where the hub cannot see are still reported, without a greenlet.
 * Also turns on recording spawn sites for {@linkcode formatRunInfo}.
 * Starting again replaces the options.
 *
 * @param options `maxBlockingTime` in milliseconds (default 100), `report`
 * callback (default: a line on stderr), `spawnSites` (default true).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, startMonitor, stopMonitor } from "./mod.ts";
 * const blocked: (string | undefined)[] = [];
 * startMonitor({
 *   maxBlockingTime: 50,
 *   report: (r) => {
 *     console.log(`${r.greenlet?.name} blocked`);
 *     blocked.push(r.greenlet?.name);
 *   },
 * });
 * await spawn(async function busy() {
 *   const end = performance.now() + 80;
 *   while (performance.now() < end); // never yields
 *   await sleep(0);
 * }).join(); // prints "busy blocked"
 * stopMonitor();
 * assert.ok(blocked.includes("busy"));
 * ```
 */
export function startMonitor(options: MonitorOptions = {}): void {
  checkOptions("start monitor", options, MONITOR_OPTIONS);
  const max = options.maxBlockingTime ?? 100;
  checkTimeout("start monitor", max, "maxBlockingTime");
  if (!(max > 0) || max === Infinity) {
    throw new RangeError(
      `Cannot start monitor: maxBlockingTime must be > 0 and finite, received ${max}`,
    );
  }
  const report = options.report ?? defaultReport;
  if (typeof report !== "function") {
    throw new TypeError(
      `Cannot start monitor: report must be a function, received ${
        describe(report)
      }`,
    );
  }
  stopMonitor();
  const tick = Math.max(5, Math.min(max / 4, 250));
  const now = nativeNow();
  const m: Running = {
    max,
    report,
    tick,
    handle: null,
    segStart: now,
    due: now + tick,
    unsubscribe: () => {},
  };
  running = m;
  // what each greenlet's latest wait was on (a yield: YIELD)
  const lastWait = new WeakMap<Task, object>();
  // A greenlet that reached a switch point (or ended) ran since segStart.
  const ran = (task: Task, ended: boolean): void => {
    const t = nativeNow();
    const d = t - m.segStart;
    if (d >= m.max) {
      const greenlet = greenletOf(task) as Greenlet;
      const from = lastWait.get(task);
      safeReport(m, {
        greenlet,
        duration: d,
        maxBlockingTime: m.max,
        spawnSite: greenlet.spawnSite,
        resumedFrom: from === undefined ? null : String(from),
        // the stack now is the greenlet's, at its switch point
        switchSite: ended || currentTask() !== task ? null : userSite(),
      });
    }
    m.segStart = t;
  };
  m.unsubscribe = subscribe({
    spawnSites: options.spawnSites ?? true,
    switch(task: Task): void {
      ran(task, false);
      lastWait.set(task, YIELD); // a wait's own hook names it next
    },
    wait(w: Waiter): void {
      lastWait.set(w.task, w.source);
    },
    finish(task: Task): void {
      ran(task, true);
    },
    // User code that ran in a drain announced its own switch points; one
    // that ended at a raw await must stay visible to the monitor's timer.
    drain(ranUser: boolean): void {
      if (!ranUser) m.segStart = nativeNow();
    },
    timer(): void {
      m.segStart = nativeNow();
    },
  });
  m.handle = nativeSetTimeout(onTick, tick);
  nativeTimerRef(m.handle, false); // the monitor never keeps a program alive
}

/**
 * Stops the monitor started by {@linkcode startMonitor} (a no-op if none
 * runs) and stops recording spawn sites.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, startMonitor, stopMonitor } from "./mod.ts";
 * let reports = 0;
 * startMonitor({ maxBlockingTime: 10, report: () => reports++ });
 * stopMonitor();
 * await spawn(() => {
 *   const end = performance.now() + 20;
 *   while (performance.now() < end); // blocks, unwatched
 * }).join();
 * assert.equal(reports, 0);
 * ```
 */
export function stopMonitor(): void {
  const m = running;
  if (m === null) return;
  running = null;
  nativeClearTimeout(m.handle);
  m.unsubscribe();
}

/**
 * The greenlet tree of the current hub as text (the same as
 * `getHub().runInfo()`): one line per live greenlet under its parent, with
 * its id, name and call, its state, what it waits on (a sleep, which lock,
 * which fetch URL, and the time left when the wait has a timeout), where it
 * was spawned (while a monitor runs) and the patched timers it armed.
 * Patched timers that keep nothing alive (unref'd: the runtime's own, such
 * as undici's inside Node's `fetch`) are left out unless `all` is set.
 *
 * @param options `all`: list the unref'd patched timers too.
 * @returns The tree; an empty string when nothing is alive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRunInfo, Semaphore, sleep, spawn } from "./mod.ts";
 * const sem = new Semaphore(0);
 * const g = spawn(async function waiter() {
 *   await sem.acquire();
 * });
 * await sleep(0);
 * assert.equal(formatRunInfo(), [
 *   `<Greenlet "main" #0> running`,
 *   `└─ <Greenlet "waiter" #1: waiter()> waiting on Semaphore(counter=0, waiters=1)`,
 * ].join("\n"));
 * await g.kill();
 * ```
 */
export function formatRunInfo(options?: RunInfoOptions): string {
  return getHub().runInfo(options);
}

/**
 * How spawn sites ({@linkcode Greenlet.spawnSite}) and the creation sites
 * of locks, events and queues (named in `LoopExit` messages) are recorded:
 * `"bounded"` (the default), `"all"` or `"off"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setSiteMode, type SiteMode } from "./mod.ts";
 * const mode: SiteMode = "all";
 * const previous = setSiteMode(mode);
 * assert.equal(setSiteMode(previous), "all");
 * ```
 */
export type SiteMode = "all" | "bounded" | "off";

/**
 * Sets how call sites are recorded — where each greenlet is spawned
 * ({@linkcode Greenlet.spawnSite}, shown in failure reports, `toJSON`,
 * inspection, monitor reports) and where each lock, event and queue is
 * created (shown in `LoopExit`). Capturing one costs about a microsecond —
 * as much as a spawn and join of a trivial greenlet — so the default,
 * `"bounded"`, records at most 200 in each 100 ms (every site of a
 * program that spawns fewer than 2,000 greenlets a second; a burst beyond
 * that goes unrecorded, and costs at most 0.5 % more time). `"all"`
 * records every one (as a running monitor does, for run info); `"off"`
 * none. `GEVENT_SITES=all|bounded|off` in the environment sets it when
 * gevent-ts loads (Deno: with env permission).
 *
 * @param mode `"all"`, `"bounded"` or `"off"`.
 * @returns The mode set before.
 * @throws {TypeError} For any other mode.
 *
 * @example Recording every spawn site
 * ```ts
 * import assert from "node:assert/strict";
 * import { setSiteMode, spawn } from "./mod.ts";
 * const previous = setSiteMode("all");
 * const gs = Array.from({ length: 1000 }, () => spawn(() => 1));
 * assert.ok(gs.every((g) => g.spawnSite !== null));
 * setSiteMode("off");
 * assert.equal(spawn(() => 1).spawnSite, null);
 * setSiteMode(previous);
 * ```
 */
export function setSiteMode(mode: SiteMode): SiteMode {
  if (mode !== "all" && mode !== "bounded" && mode !== "off") {
    throw new TypeError(
      `Cannot set site mode: mode must be "all", "bounded" or "off", received ${
        describe(mode)
      }`,
    );
  }
  const previous = siteMode();
  setMode(mode);
  return previous;
}
