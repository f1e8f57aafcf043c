/**
 * Seeing it run: a monitor that names the greenlet that blocked the hub
 * (gevent's monitor thread), and the greenlet tree as text.
 *
 * @module
 */

import {
  greenletOf,
  nativeClearTimeout,
  nativeConsoleError,
  nativeNow,
  nativeSetTimeout,
  nativeTimerRef,
  subscribe,
  type Task,
} from "./_core/mod.ts";
import {
  checkOptions,
  checkTimeout,
  describe,
  optionNames,
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

function defaultReport(r: BlockingReport): void {
  const who = r.greenlet === null ? "the hub's thread" : String(r.greenlet);
  nativeConsoleError(
    `gevent-ts monitor: ${who} blocked the hub for ${
      r.duration.toFixed(1)
    } ms (max ${r.maxBlockingTime} ms)`,
  );
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
  // A greenlet that reached a switch point (or ended) ran since segStart.
  const switched = (task: Task): void => {
    const t = nativeNow();
    const d = t - m.segStart;
    if (d >= m.max) {
      const greenlet = greenletOf(task) as Greenlet;
      safeReport(m, { greenlet, duration: d, maxBlockingTime: m.max });
    }
    m.segStart = t;
  };
  m.unsubscribe = subscribe({
    spawnSites: options.spawnSites ?? true,
    switch: switched,
    finish: switched,
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
