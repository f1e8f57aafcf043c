/**
 * Seeing it run: a trace of when each greenlet ran, what it waited on and
 * who woke it, in Chrome's trace-event format — the JSON that Perfetto
 * (ui.perfetto.dev) and chrome://tracing open. A subscriber of the hooks
 * bus; `GEVENT_TRACE=path.json` in the environment traces a whole program
 * (read as gevent-ts loads, by `_trace_env.ts`: importing this module does
 * nothing by itself).
 *
 * @module
 */

import {
  actor,
  currentTask,
  greenletOf,
  type HubCore,
  hubCoreOf,
  type Scope,
  subscribe,
  type Task,
  type Waiter,
} from "./_core/mod.ts";
import { checkOptions, describe, optionNames } from "./_util/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import { getHub, type Hub } from "./hub.ts";

/**
 * One event of a trace, in Chrome's trace-event format: what
 * {@linkcode stopTrace} returns. Write `{ traceEvents: events }` as JSON to
 * open it in Perfetto (ui.perfetto.dev → Open trace file) or
 * chrome://tracing. Each hub is a process (`pid` 1 for the first one seen)
 * and each greenlet a thread of it (`tid`: the greenlet's id; main is 0),
 * named by metadata events.
 *
 * | `ph` | `cat`        | `name`                          | what                                                                          |
 * | ---- | ------------ | ------------------------------- | ----------------------------------------------------------------------------- |
 * | `X`  | `run`        | `run`                           | the greenlet ran from `ts` for `dur` µs, to a switch point or its end         |
 * | `X`  | `wait`       | what it waited on               | a wait, as run info describes it (`sleep`, `Semaphore(counter=0, …)`, `fetch GET …`) |
 * | `s`  | `wake`/`spawn` | `wake`/`spawn`                | an arrow's start, inside the waker's (spawner's) `run` slice                  |
 * | `f`  | `wake`/`spawn` | `wake`/`spawn`                | its end (same `id`), at the start of the woken (spawned) greenlet's next run  |
 * | `i`  | `trace`      | `trace truncated`               | `maxEvents` was reached here: recording stopped                               |
 * | `M`  | `__metadata` | `process_name`, `thread_name`, `thread_sort_index` | names of hubs and greenlets                                  |
 *
 * @example Writing a trace file
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, startTrace, stopTrace, type TraceEvent } from "./mod.ts";
 * startTrace();
 * await spawn(async function napper() {
 *   await sleep(5);
 * }).join();
 * const events: TraceEvent[] = stopTrace();
 * const json = JSON.stringify({ traceEvents: events }); // a file Perfetto opens
 * assert.ok(events.some((e) => e.ph === "M" && e.args?.name === "napper"));
 * assert.ok(events.some((e) => e.ph === "X" && e.cat === "wait" && e.name === "sleep"));
 * assert.ok(json.startsWith('{"traceEvents":['));
 * ```
 */
export interface TraceEvent {
  /**
   * The phase: `"X"` a slice, `"s"`/`"f"` the start and end of a flow
   * arrow, `"i"` an instant, `"M"` metadata.
   */
  ph: "X" | "s" | "f" | "i" | "M";
  /** `run`, what a wait was on, `wake`, `spawn`, or the metadata's kind. */
  name: string;
  /** `run`, `wait`, `wake`, `spawn`, `trace` or `__metadata`. */
  cat: string;
  /**
   * When, in microseconds of the clock of the hub the trace began on
   * (`hub.now()`: `performance.now()`, or the virtual clock under
   * `withVirtualTime`); 0 for metadata.
   */
  ts: number;
  /** A slice's duration in microseconds (`"X"` only). */
  dur?: number;
  /** The hub: 1 for the first hub seen while tracing, 2 for the next… */
  pid: number;
  /** The greenlet's id (main is 0). */
  tid: number;
  /** The flow that an `"s"` and an `"f"` event share. */
  id?: number;
  /** `"e"` on an `"f"`: the arrow ends at the slice around `ts`. */
  bp?: "e";
  /** `"t"` on an `"i"`: the instant belongs to its thread. */
  s?: "t";
  /**
   * Details: a wait's `timeout` (ms) and `wokenBy` (a greenlet, `timer`,
   * `hub`, `itself`, `not seen` or `still waiting`); the `name` of a
   * metadata event.
   */
  args?: Record<string, string | number | boolean>;
}

/**
 * Options for {@linkcode startTrace}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, startTrace, stopTrace, type TraceOptions } from "./mod.ts";
 * const options: TraceOptions = { maxEvents: 3 };
 * startTrace(options);
 * await spawn(async () => {
 *   for (let i = 0; i < 5; i++) await sleep(0);
 * }).join();
 * const events = stopTrace();
 * const truncated = events.find((e) => e.name === "trace truncated");
 * assert.equal(truncated?.args?.maxEvents, 3);
 * // main's first run and the greenlet's; the spawn arrow's two ends did not fit
 * assert.equal(events.filter((e) => e.ph === "X" || e.ph === "s" || e.ph === "f").length, 2);
 * ```
 */
export interface TraceOptions {
  /**
   * Record at most this many slices and flow events (an integer ≥ 1, or
   * `Infinity`; default 1,000,000, about 125 MB). Once it is reached, recording
   * stops (it costs nothing more) and a `trace truncated` instant marks
   * when; the trace still ends at `stopTrace()`, with names.
   */
  maxEvents?: number | undefined;
}

const TRACE_OPTIONS = optionNames("maxEvents");
const MAX_EVENTS = 1_000_000;

/** A wait shown as a slice: what, and since when (ns). */
interface OpenWait {
  name: string;
  start: number;
  timeout: number | undefined;
}

/** An arrow to draw once the greenlet it points to runs again. */
interface Flow {
  cat: "wake" | "spawn";
  from: Track;
  ts: number;
}

/** What a recorder knows of one greenlet (its track). */
interface Track {
  readonly task: Task;
  readonly pid: number;
  readonly tid: number;
  /** Whether it may have run (false: spawned while tracing, not started). */
  started: boolean;
  /** When its last run slice ended (ns). */
  lastEnd: number;
  /** When it became runnable (ns); -Infinity while a wait is pending. */
  ready: number;
  /** The wait shown now, if any. */
  wait: OpenWait | null;
  /** Arrows that end at its next run slice. */
  flowsIn: Flow[] | null;
}

const RANK: Record<TraceEvent["ph"], number> = {
  M: 0,
  X: 1,
  s: 2,
  f: 3,
  i: 4,
};

/**
 * Order of the output: by time; at the same time, metadata, then slices
 * (the shorter first: a wait that ends where a run begins), then arrows,
 * then waits that begin there — so each arrow binds to the run slice
 * around it, as Perfetto's importer binds them in this order.
 */
function compare(a: TraceEvent, b: TraceEvent): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  return (a.dur ?? 0) - (b.dur ?? 0);
}

function rank(e: TraceEvent): number {
  // a wait of some length that begins here comes after the arrows
  return e.cat === "wait" && e.dur !== 0 ? 3.5 : RANK[e.ph];
}

/**
 * Records one trace: listens to the hooks bus and turns what the hub
 * announces into slices. A greenlet's run slice begins when it is first
 * seen running (its start, or an action: a release, a spawn) or else right
 * after the hub's last event before it (the drain that resumed it, the
 * previous slice), and ends at its switch point.
 */
class Recorder {
  readonly #max: number;
  readonly #events: TraceEvent[] = [];
  /** When recording stopped at the cap (ns), if it did. */
  #full: number | null = null;
  readonly #tracks = new Map<Task, Track>();
  readonly #pids = new Map<object, number>();
  #nextFlow = 1;
  /** Up to when the thread's time is accounted for (ns). */
  #cursor: number;
  /** The greenlet seen running now, since when, last seen when (ns). */
  #cur: Track | null = null;
  #curFrom = 0;
  #curSeen = 0;
  /** Whether it started in the drain pass under way (the drain follows it). */
  #curStarted = false;
  /**
   * Whether the hub ran since it was last seen: its slice ended then,
   * unless it is seen again before anyone else (the hub's pass was a
   * microtask hop inside its run: an uncontended `await`, its end).
   */
  #curPaused = false;
  /** When the action of the last {@linkcode Recorder.#actor} happened (ns). */
  #actedAt = 0;
  readonly #unsubscribe: () => void;
  /**
   * Each hub's offset from its clock to the trace's (ns): the hub the
   * trace began on has 0; another hub (a virtual one) is placed where the
   * trace is when it is first seen, and moved on whenever its clock would
   * go back behind the trace's (see `#now`).
   */
  readonly #offsets = new Map<object, number>();
  /** The latest time stamped (ns): the trace's clock never goes back. */
  #last: number;

  /** The hub the trace began on: its clock is the trace's. */
  readonly #home: HubCore;

  constructor(max: number, _hub: Hub) {
    this.#max = max;
    const core = this.#home = hubCoreOf(currentTask());
    this.#offsets.set(core, 0);
    this.#last = Math.round(core.now() * 1e6);
    const t = this.#now();
    this.#cursor = t;
    this.#seen(this.#track(currentTask()), t, true); // whoever starts it runs
    this.#unsubscribe = subscribe({
      spawn: (task) => this.#spawn(task),
      start: (task) => this.#start(task),
      switch: (task) => this.#switch(task),
      wait: (w) => this.#wait(w),
      settle: (w) => this.#settle(w),
      finish: (task) => this.#switch(task),
      detach: (scope) => this.#detach(scope),
      timer: () => this.#hubRan(false),
      drain: () => this.#hubRan(true),
    });
  }

  /**
   * The trace's clock, in integer nanoseconds (µs with 3 exact decimals):
   * each event is stamped with the clock of its hub (`core`; by default the
   * running code's) — the hub the trace began on as it reads, a virtual
   * hub's (`withVirtualTime`) from where the trace was when it first
   * appeared, so a 100 ms virtual sleep spans 100 ms — and never before an
   * event stamped already.
   */
  #now(core: HubCore = hubCoreOf(currentTask())): number {
    const c = Math.round(core.now() * 1e6);
    const last = this.#last;
    let off = this.#offsets.get(core);
    if (off === undefined || c + off < last) {
      this.#offsets.set(core, off = last - c);
    }
    return this.#last = c + off;
  }

  #track(task: Task): Track {
    let tr = this.#tracks.get(task);
    if (tr === undefined) {
      const core = hubCoreOf(task);
      let pid = this.#pids.get(core);
      if (pid === undefined) this.#pids.set(core, pid = this.#pids.size + 1);
      const tid = (core.greenletOf(task) as Greenlet).id;
      tr = {
        task,
        pid,
        tid,
        started: true, // it existed before: it may have run
        lastEnd: -Infinity,
        ready: -Infinity,
        wait: null,
        flowsIn: null,
      };
      this.#tracks.set(task, tr);
    }
    return tr;
  }

  /** Records `es` (all or none: an arrow's two ends go together). */
  #push(...es: TraceEvent[]): void {
    if (this.#full !== null) return;
    if (this.#events.length + es.length <= this.#max) {
      this.#events.push(...es);
    } else {
      this.#full = this.#last; // no hub told: the latest stamp
      this.#unsubscribe();
    }
  }

  /**
   * `tr` is running at `t`: it becomes the running greenlet — from `t` if
   * it `starts` now, else from right after whatever ran before it.
   */
  #seen(tr: Track, t: number, starts = false): void {
    if (this.#cur !== tr) {
      // The one seen before stopped where it was last seen, or, if a
      // greenlet starts now (in a drain pass, right after it), here.
      if (this.#cur !== null) {
        this.#closeRun(starts && !this.#curPaused ? t : this.#curSeen);
      }
      this.#cur = tr;
      this.#curStarted = starts;
      tr.started = true;
      this.#curFrom = starts
        ? t
        : Math.min(t, Math.max(this.#cursor, tr.lastEnd, tr.ready));
      // it runs: whatever it waited on is over
      if (tr.wait !== null) this.#closeWait(tr, this.#curFrom, "not seen");
    }
    this.#curPaused = false;
    this.#curSeen = t;
  }

  /** Ends the run slice of the running greenlet at `end`. */
  #closeRun(end: number): void {
    const tr = this.#cur!;
    const from = this.#curFrom;
    this.#cur = null;
    this.#push({
      ph: "X",
      cat: "run",
      name: "run",
      ts: from / 1000,
      dur: (end - from) / 1000,
      pid: tr.pid,
      tid: tr.tid,
    });
    tr.lastEnd = end;
    if (end > this.#cursor) this.#cursor = end;
    const flows = tr.flowsIn;
    if (flows === null) return;
    tr.flowsIn = null;
    for (const f of flows) {
      // no arrow when it ran before it was woken, or the waker did not run
      // while tracing (a -Infinity end)
      if (!(f.ts <= from && f.ts > -Infinity)) continue;
      const id = this.#nextFlow++;
      this.#push({
        ph: "s",
        cat: f.cat,
        name: f.cat,
        ts: f.ts / 1000,
        pid: f.from.pid,
        tid: f.from.tid,
        id,
      }, {
        ph: "f",
        cat: f.cat,
        name: f.cat,
        ts: from / 1000,
        pid: tr.pid,
        tid: tr.tid,
        id,
        bp: "e",
      });
    }
  }

  #closeWait(tr: Track, end: number, wokenBy: string): void {
    const w = tr.wait!;
    tr.wait = null;
    // a wait it went on from at once, in another flow (a withTimeout's
    // body starting): the next wait slice names both
    if (end === w.start && wokenBy === "not seen") return;
    const args: Record<string, string | number> = { wokenBy };
    if (w.timeout !== undefined) args.timeout = w.timeout;
    this.#push({
      ph: "X",
      cat: "wait",
      name: w.name,
      ts: w.start / 1000,
      dur: (end - w.start) / 1000,
      pid: tr.pid,
      tid: tr.tid,
      args,
    });
  }

  /**
   * Who acts now: the greenlet the hub acts for (its action happened in its
   * last run slice: `#actedAt` is that slice's end), else the running one,
   * seen running at `t` unless it is `except`; null for a timer or the hub.
   */
  #actor(t: number, except: Track | null): Track | null {
    const a = actor;
    if (a === "timer" || a === "hub") return null;
    if (a !== null) {
      const tr = this.#track(a);
      this.#actedAt = tr === this.#cur ? t : tr.lastEnd;
      return tr;
    }
    const tr = this.#track(currentTask());
    if (tr !== except) this.#seen(tr, t);
    this.#actedAt = t;
    return tr;
  }

  #spawn(task: Task): void {
    const t = this.#now(hubCoreOf(task));
    const child = this.#track(task);
    child.started = false;
    const parent = this.#actor(t, null);
    if (parent !== null) {
      child.flowsIn = [{ cat: "spawn", from: parent, ts: this.#actedAt }];
    }
  }

  #start(task: Task): void {
    const t = this.#now(hubCoreOf(task));
    this.#seen(this.#track(task), t, true);
  }

  /** A switch point, or the end, of `task`: its run slice ends. */
  #switch(task: Task): void {
    const t = this.#now(hubCoreOf(task));
    const tr = this.#track(task);
    if (!tr.started) return; // ended before it started (killed)
    this.#seen(tr, t);
    this.#closeRun(t);
    tr.ready = t; // a yield: runnable at once (a wait says otherwise)
  }

  /** A scope's body was detached at its deadline: an instant on its track. */
  #detach(scope: Scope): void {
    const t = this.#now(hubCoreOf(scope.task));
    const tr = this.#track(scope.task);
    const site = (scope as { site?: string | null }).site;
    this.#push({
      ph: "i",
      cat: "detach",
      name: `${scope.label(null)} detached`,
      ts: t / 1000,
      pid: tr.pid,
      tid: tr.tid,
      s: "t",
      args: site ? { site } : {},
    });
  }

  #wait(w: Waiter): void {
    const task = w.task;
    const tr = this.#track(task);
    tr.ready = -Infinity;
    // every wait of it now, oldest first: `withTimeout(50 ms) and sleep`
    let name = text(w.source);
    for (let s: Scope | null = w.scope; s !== task && s !== null; s = s.outer) {
      const scope = s.label(null);
      if (scope !== null) name = `${scope} and ${name}`;
    }
    for (let o = w.gnext; o !== null; o = o.gnext) {
      name = `${text(o.source)} and ${name}`;
    }
    const timeout = w.gnext === null && w.options.timeout !== Infinity
      ? w.options.timeout
      : undefined;
    if (tr.wait !== null) {
      tr.wait.name = name; // a wait of another flow of it, at once
      tr.wait.timeout = undefined;
      return;
    }
    tr.wait = { name, start: Math.max(tr.lastEnd, this.#cursor), timeout };
  }

  #settle(w: Waiter): void {
    const t = this.#now(hubCoreOf(w.task));
    const tr = this.#track(w.task);
    const by = this.#actor(t, tr);
    if (w.task.waits !== null) return; // another wait of it goes on
    tr.ready = t;
    if (tr.wait !== null) {
      const a = actor;
      const wokenBy = by === null
        ? a as string
        : by === tr
        ? "itself"
        : text(greenletOf(by.task));
      this.#closeWait(tr, t, wokenBy);
    }
    if (by !== null && by !== tr) {
      (tr.flowsIn ??= []).push({ cat: "wake", from: by, ts: this.#actedAt });
    }
  }

  /**
   * The hub ran: a drain pass ended, or its timer fired. A greenlet started
   * in that drain pass ran until then. Any other running one is paused: if
   * it is seen again next, its slice goes on; else it ended when it was
   * last seen (the thread may have been idle since). The timer fires only
   * when the thread was free: that ends it.
   */
  #hubRan(drained: boolean): void {
    // which hub ran is not told: the running code's when it is the trace's
    // own, else no later than the latest stamp (a virtual hub's timers fire
    // from whatever context the driver had: never another hub's clock)
    const core = hubCoreOf(currentTask());
    const t = core === this.#home ? this.#now(core) : this.#last;
    if (this.#cur !== null) {
      if (!drained) this.#closeRun(this.#curSeen);
      else if (this.#curStarted && !this.#curPaused) this.#closeRun(t);
      else this.#curPaused = true;
    }
    if (t > this.#cursor) this.#cursor = t;
  }

  /** Stops listening; returns the events, sorted, with names. */
  stop(): TraceEvent[] {
    this.#unsubscribe();
    const t = this.#now();
    this.#seen(this.#track(currentTask()), t);
    this.#closeRun(t);
    for (const tr of this.#tracks.values()) {
      if (tr.wait !== null) this.#closeWait(tr, t, "still waiting");
    }
    const events = this.#events;
    if (this.#full !== null) {
      const main = this.#track(currentTask());
      events.push({
        ph: "i",
        cat: "trace",
        name: "trace truncated",
        ts: this.#full / 1000,
        pid: main.pid,
        tid: main.tid,
        s: "t",
        args: { maxEvents: this.#max },
      });
    }
    for (const pid of this.#pids.values()) {
      const name = pid === 1 ? "gevent-ts hub" : `gevent-ts hub ${pid}`;
      events.push(meta("process_name", pid, 0, { name }));
    }
    for (const tr of this.#tracks.values()) {
      if (!tr.started) continue; // never ran: no track
      const g = greenletOf(tr.task) as Greenlet;
      events.push(meta("thread_name", tr.pid, tr.tid, { name: g.name }));
      events.push(
        meta("thread_sort_index", tr.pid, tr.tid, { sort_index: tr.tid }),
      );
    }
    return events.sort(compare);
  }
}

/**
 * `String(v)`, or a placeholder if that throws (a waitable of the user's
 * whose `toString` fails must not break the wait it describes).
 */
function text(v: object): string {
  try {
    return String(v);
  } catch {
    return "(a waitable whose toString() threw)";
  }
}

function meta(
  name: string,
  pid: number,
  tid: number,
  args: Record<string, string | number>,
): TraceEvent {
  return { ph: "M", cat: "__metadata", name, ts: 0, pid, tid, args };
}

let running: Recorder | null = null;

/**
 * Starts recording a trace of every hub: when each greenlet ran, what it
 * waited on (a sleep, which lock or queue, which fetch URL — as run info
 * describes it) and which greenlet woke it. {@linkcode stopTrace} returns
 * it in Chrome's trace-event format. While no trace runs, tracing costs
 * one null check per switch point.
 *
 * A run slice ends at the greenlet's switch point; it begins when the
 * greenlet is first seen running (its start, a release or spawn it makes)
 * or else just after the hub's last event before it. Time a greenlet
 * spends in an await the hub does not own (a raw promise, an unpatched
 * `fetch`) is not seen: it shows as not running.
 *
 * Times are read from the clock of the hub current at `startTrace()`
 * (`hub.now()`). Under `withVirtualTime` (from `./testing`) that is the
 * virtual clock: each wait spans its exact virtual milliseconds, and run
 * slices are instants, since virtual time does not pass while code runs.
 *
 * To trace a whole program without changing it, set `GEVENT_TRACE` to a
 * file name: the trace runs from the moment gevent-ts loads and is written
 * there when the program ends (normally, or by `Deno.exit()`/`process.exit()`).
 * Under Deno that takes `--allow-env=GEVENT_TRACE` (without it the variable
 * is not read, and nothing is traced) and `--allow-write=<file>` (without it,
 * Deno asks at a terminal; elsewhere one line on stderr says why the file is
 * missing). That trace is separate:
 * `startTrace()`/`stopTrace()` work beside it.
 *
 * @param options `maxEvents`: keep at most this many events (default
 * 1,000,000).
 * @throws {Error} If a trace is running already (stop it first).
 *
 * @example A lock hand-off, seen in the trace
 * ```ts
 * import assert from "node:assert/strict";
 * import { Semaphore, sleep, spawn, startTrace, stopTrace } from "./mod.ts";
 * const sem = new Semaphore(1);
 * async function worker(ms: number) {
 *   await sem.acquire();
 *   await sleep(ms);
 *   sem.release();
 * }
 * startTrace();
 * const [a, b] = [spawn(worker, 10), spawn(worker, 1)];
 * await a.join();
 * await b.join();
 * const events = stopTrace();
 * const tid = (id: number) => events.filter((e) => e.tid === id && e.ph === "X");
 * // b waited on the lock until a released it: an arrow from a to b
 * const lockWait = tid(b.id).find((e) => e.name.startsWith("Semaphore"));
 * assert.equal(lockWait?.args?.wokenBy, String(a));
 * const arrow = events.find((e) => e.ph === "s" && e.cat === "wake" && e.tid === a.id);
 * assert.ok(events.some((e) => e.ph === "f" && e.id === arrow?.id && e.tid === b.id));
 * ```
 *
 * @example Under virtual time: waits at their exact instants
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, startTrace, stopTrace } from "./mod.ts";
 * import { withVirtualTime } from "./testing.ts";
 * const events = await withVirtualTime(async () => {
 *   startTrace();
 *   await sleep(60_000);
 *   return stopTrace();
 * });
 * const wait = events.find((e) => e.cat === "wait");
 * assert.deepEqual([wait?.name, wait?.ts, wait?.dur], ["sleep", 0, 60_000_000]); // µs
 * ```
 */
export function startTrace(options?: TraceOptions): void {
  checkOptions("start trace", options, TRACE_OPTIONS);
  const max = options?.maxEvents ?? MAX_EVENTS;
  if (!(Number.isInteger(max) && max >= 1) && max !== Infinity) {
    throw new RangeError(
      `Cannot start trace: maxEvents must be an integer ≥ 1 or Infinity, received ${
        describe(max)
      }`,
    );
  }
  if (running !== null) {
    throw new Error(
      "Cannot start trace: a trace is running already; call stopTrace() first",
    );
  }
  running = new Recorder(max, getHub());
}

/**
 * Stops the trace begun by {@linkcode startTrace} and returns its events:
 * sorted by time, metadata (names) first. Waits still pending end at this
 * moment (`wokenBy: "still waiting"`). `JSON.stringify({ traceEvents })` of
 * them is a file Perfetto (ui.perfetto.dev → Open trace file) and
 * chrome://tracing open.
 *
 * @returns The trace's events.
 * @throws {Error} If no trace is running: stopping twice, or without a
 * start, is a mistake worth seeing rather than an empty trace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, startTrace, stopTrace } from "./mod.ts";
 * startTrace();
 * await spawn(async function ticker() {
 *   await sleep(0);
 * }).join();
 * const events = stopTrace();
 * const names = events.filter((e) => e.name === "thread_name").map((e) => e.args?.name);
 * assert.deepEqual(names.sort(), ["main", "ticker"]);
 * assert.throws(() => stopTrace(), /Cannot stop trace: no trace is running/);
 * ```
 */
export function stopTrace(): TraceEvent[] {
  const r = running;
  if (r === null) {
    throw new Error(
      "Cannot stop trace: no trace is running; call startTrace() first",
    );
  }
  running = null;
  return r.stop();
}

/**
 * Internal (for _trace_env.ts, not re-exported): starts the trace
 * `GEVENT_TRACE` asks for, of the whole program on the default hub: a
 * recording of its own, beside `startTrace()`'s, with the default cap.
 *
 * @returns The function that stops it and returns its events.
 */
export function startProgramTrace(): () => TraceEvent[] {
  getHub(); // the default hub, with main, exists from the start
  const recorder = new Recorder(MAX_EVENTS, getHub());
  return () => recorder.stop();
}
