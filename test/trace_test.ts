/**
 * Traces (`startTrace`/`stopTrace`, `GEVENT_TRACE`): a known program gives
 * the expected tracks, slices and arrows in order; every trace is JSON that
 * Perfetto's importer takes (checked against what its JSON parser needs);
 * starting and stopping; the truncation cap; who woke a wait; a whole
 * program traced from the environment, in a child process.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  Event,
  getHub,
  Hub,
  idle,
  joinAll,
  Linkable,
  Queue,
  Semaphore,
  sleep,
  spawn,
  startTrace,
  stopTrace,
  Timeout,
  type TraceEvent,
  withTimeout,
} from "../mod.ts";
import { withVirtualTime } from "../testing.ts";
import {
  isDeno,
  type ProcessResult,
  runProcess,
  test,
} from "./test_adapter.ts";

/** Each greenlet's name by (pid, tid), from the trace's metadata. */
function trackNames(events: TraceEvent[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of events) {
    if (e.ph === "M" && e.name === "thread_name") {
      names.set(`${e.pid}/${e.tid}`, String(e.args?.name));
    }
  }
  return names;
}

/** The trace without metadata, as `track ph cat name` lines in order. */
function outline(events: TraceEvent[]): string[] {
  const names = trackNames(events);
  return events.filter((e) => e.ph !== "M").map((e) =>
    `${names.get(`${e.pid}/${e.tid}`)} ${e.ph} ${e.cat} ${e.name}`
  );
}

/** The wait slices as `track: what (woken by)` lines in order. */
function waits(events: TraceEvent[]): string[] {
  const names = trackNames(events);
  return events.filter((e) => e.ph === "X" && e.cat === "wait").map((e) =>
    `${names.get(`${e.pid}/${e.tid}`)}: ${e.name} (${e.args?.wokenBy})`
  );
}

/**
 * Asserts what Perfetto's JSON importer needs of a trace and what this
 * format promises: a `traceEvents` array; every event with `ph`, `ts`,
 * `pid`, `tid` (numbers; times in whole nanoseconds); a name for every
 * process and thread used; slices with a duration, never overlapping on a
 * track; events in time order; every arrow start matched by one end, each
 * inside a slice of its track (the start in the waker's run, the end at the
 * start of the woken greenlet's run).
 */
function assertPerfettoTrace(json: string): TraceEvent[] {
  const parsed = JSON.parse(json) as { traceEvents: TraceEvent[] };
  assert.ok(Array.isArray(parsed.traceEvents), "a traceEvents array");
  const events = parsed.traceEvents;
  const processes = new Set<number>();
  const threads = new Set<string>();
  for (const e of events) {
    assert.ok(["X", "s", "f", "i", "M"].includes(e.ph), JSON.stringify(e));
    assert.equal(typeof e.name, "string");
    assert.ok(Number.isFinite(e.ts) && e.ts >= 0, JSON.stringify(e));
    assert.ok(Number.isInteger(e.pid) && e.pid > 0, JSON.stringify(e));
    assert.ok(Number.isInteger(e.tid) && e.tid >= 0, JSON.stringify(e));
    assert.ok(Math.abs(e.ts * 1000 - ns(e.ts)) < 1e-3, `whole ns: ${e.ts}`);
    if (e.ph === "M" && e.name === "process_name") processes.add(e.pid);
    if (e.ph === "M" && e.name === "thread_name") {
      assert.ok(typeof e.args?.name === "string" && e.args.name !== "");
      threads.add(`${e.pid}/${e.tid}`);
    }
  }
  const slices = new Map<string, TraceEvent[]>();
  let last = -Infinity;
  for (const e of events) {
    if (e.ph === "M") continue;
    assert.ok(processes.has(e.pid), `process ${e.pid} has a name`);
    assert.ok(threads.has(`${e.pid}/${e.tid}`), `thread ${e.tid} has a name`);
    assert.ok(e.ts >= last, "events in time order");
    last = e.ts;
    if (e.ph === "X") {
      assert.ok(Number.isFinite(e.dur) && e.dur! >= 0, JSON.stringify(e));
      const key = `${e.pid}/${e.tid}`;
      const track = slices.get(key) ?? [];
      const prev = track.at(-1);
      if (prev !== undefined) {
        assert.ok(
          ns(e.ts) >= ns(prev.ts) + ns(prev.dur!),
          `slices of a track do not overlap: ${JSON.stringify([prev, e])}`,
        );
      }
      track.push(e);
      slices.set(key, track);
    }
  }
  const inside = (e: TraceEvent, cat?: string) =>
    (slices.get(`${e.pid}/${e.tid}`) ?? []).some((x) =>
      (cat === undefined || x.cat === cat) && ns(x.ts) <= ns(e.ts) &&
      ns(e.ts) <= ns(x.ts) + ns(x.dur!)
    );
  const starts = events.filter((e) => e.ph === "s");
  const ends = events.filter((e) => e.ph === "f");
  assert.equal(starts.length, ends.length, "each arrow has two ends");
  for (const s of starts) {
    const f = ends.filter((e) => e.id === s.id);
    assert.equal(f.length, 1, `one end of arrow ${s.id}`);
    assert.equal(f[0].cat, s.cat);
    assert.equal(f[0].bp, "e");
    assert.ok(s.ts <= f[0].ts, "an arrow goes forward in time");
    assert.ok(inside(s, "run"), `arrow ${s.id} starts in a run slice`);
    assert.ok(inside(f[0], "run"), `arrow ${s.id} ends in a run slice`);
  }
  return events;
}

/** Microseconds to whole nanoseconds, as Perfetto reads them (llround). */
function ns(us: number): number {
  return Math.round(us * 1000);
}

function traceJson(events: TraceEvent[]): string {
  return JSON.stringify({ traceEvents: events });
}

test("a trace of a known program: its tracks, slices and arrows, in order", async () => {
  startTrace();
  const sem = new Semaphore(0);
  const a = spawn(async function a() {
    await sleep(5);
    sem.release();
  });
  const b = spawn(async function b() {
    await sem.acquire();
    await sleep(0);
  });
  await joinAll([a, b]);
  const events = stopTrace();
  assertPerfettoTrace(traceJson(events));
  assert.deepEqual(
    events.filter((e) => e.ph === "M").map((e) =>
      `${e.name} ${e.tid} ${Object.values(e.args ?? {})}`
    ).sort(),
    [
      `process_name 0 gevent-ts hub`,
      `thread_name 0 main`,
      `thread_name ${a.id} a`,
      `thread_name ${b.id} b`,
      `thread_sort_index 0 0`,
      `thread_sort_index ${a.id} ${a.id}`,
      `thread_sort_index ${b.id} ${b.id}`,
    ].sort(),
  );
  assert.deepEqual(outline(events), [
    "main X run run", // spawns a and b, then joins them
    "main s spawn spawn",
    "main s spawn spawn",
    "main X wait joinAll of 2 greenlets (0 done)",
    "a X run run",
    "a f spawn spawn",
    "a X wait sleep",
    "b X run run",
    "b f spawn spawn",
    "b X wait Semaphore(counter=0, waiters=1)",
    "a X run run", // after 5 ms: releases (wakes b) and ends
    "a s wake wake",
    "b X run run", // woken by a, up to its sleep(0)
    "b f wake wake",
    "b X run run", // after the sleep(0), to its end: main's join is over
    "b s wake wake",
    "main X run run",
    "main f wake wake",
  ]);
  assert.deepEqual(waits(events), [
    `main: joinAll of 2 greenlets (0 done) (${b})`,
    "a: sleep (timer)",
    `b: Semaphore(counter=0, waiters=1) (${a})`,
  ]);
  const sleepWait = events.find((e) => e.name === "sleep");
  assert.equal(sleepWait?.args?.timeout, 5);
  // the arrows: main → a and main → b (spawn), a → b and b → main (wake)
  const arrows = events.filter((e) => e.ph === "s").map((s) => {
    const f = events.find((e) => e.ph === "f" && e.id === s.id)!;
    return `${s.cat} ${s.tid} → ${f.tid}`;
  });
  assert.deepEqual(arrows, [
    `spawn 0 → ${a.id}`,
    `spawn 0 → ${b.id}`,
    `wake ${a.id} → ${b.id}`,
    `wake ${b.id} → 0`,
  ]);
});

test("under withVirtualTime a trace reads the virtual clock: the tutorial's semaphore program, every wait at its exact instant", async () => {
  const { events, lines } = await withVirtualTime(async () => {
    startTrace();
    const lines: string[] = [];
    const sem = new Semaphore(1);
    const worker = (name: string, ms: number) =>
      spawn(
        Object.defineProperty(
          async () => {
            for (let i = 0; i < 5; i++) {
              await sem.acquire();
              lines.push(`${name} ${i} at ${getHub().now()}`);
              sem.release();
              await sleep(ms);
            }
          },
          "name",
          { value: name },
        ),
      );
    await joinAll([worker("f1", 100), worker("f2", 300)]);
    return { events: stopTrace(), lines };
  });
  assert.deepEqual(lines, [
    "f1 0 at 0",
    "f2 0 at 0",
    "f1 1 at 100",
    "f1 2 at 200",
    "f2 1 at 300",
    "f1 3 at 300",
    "f1 4 at 400",
    "f2 2 at 600",
    "f2 3 at 900",
    "f2 4 at 1200",
  ]);
  assertPerfettoTrace(traceJson(events));
  const names = trackNames(events);
  // each wait: who, what, from when, for how long (virtual ms), woken by
  const timed = events.filter((e) => e.ph === "X" && e.cat === "wait").map(
    (e) =>
      `${names.get(`${e.pid}/${e.tid}`)}: ${e.name} ${e.ts / 1000}+${
        e.dur! / 1000
      } ms (${String(e.args?.wokenBy).replace(/ #\d+: \w+\(\)/, "")})`,
  );
  // (in time order; slices that begin at one instant, shortest first).
  // A greenlet runs alone between switch points: acquire, print, release
  // happen in one run, so no greenlet ever waits for the permit.
  assert.deepEqual(timed, [
    "f1: sleep 0+100 ms (timer)",
    "f2: sleep 0+300 ms (timer)",
    'main: joinAll of 2 greenlets (0 done) 0+1500 ms (<Greenlet "f2">)',
    "f1: sleep 100+100 ms (timer)",
    "f1: sleep 200+100 ms (timer)",
    "f1: sleep 300+100 ms (timer)",
    "f2: sleep 300+300 ms (timer)",
    "f1: sleep 400+100 ms (timer)",
    "f2: sleep 600+300 ms (timer)",
    "f2: sleep 900+300 ms (timer)",
    "f2: sleep 1200+300 ms (timer)",
  ]);
  // no time passes while a greenlet runs: every run slice is an instant
  const runs = events.filter((e) => e.ph === "X" && e.cat === "run");
  assert.ok(runs.length > 0);
  assert.deepEqual(runs.filter((e) => e.dur !== 0), []);
});

test("tracing changes nothing the program does", async () => {
  async function program(): Promise<string[]> {
    const log: string[] = [];
    const sem = new Semaphore(1);
    const q = new Queue<number>(1);
    async function worker(name: string) {
      for (let i = 0; i < 3; i++) {
        await sem.acquire();
        log.push(`${name} ${i}`);
        await sleep(0);
        sem.release();
        await q.put(i);
      }
    }
    async function drain() {
      for (let i = 0; i < 6; i++) log.push(`got ${await q.get()}`);
    }
    await joinAll([spawn(worker, "x"), spawn(worker, "y"), spawn(drain)]);
    return log;
  }
  const untraced = await program();
  startTrace();
  const traced = await program();
  stopTrace();
  assert.deepEqual(traced, untraced);
});

test("every trace is JSON that Perfetto's importer takes: queues, events, locks, kills, a wait still pending", async () => {
  startTrace();
  const q = new Queue<number>(1);
  const ready = new Event();
  const lock = new Semaphore(1);
  const producer = spawn(async function producer() {
    for (let i = 0; i < 3; i++) await q.put(i);
    ready.set();
  });
  const consumer = spawn(async function consumer() {
    for (let i = 0; i < 3; i++) await q.get();
  });
  const waiter = spawn(async function waiter() {
    await ready.wait();
    await lock.acquire();
    lock.release();
  });
  const sleeper = spawn(async function sleeper() {
    await sleep(60_000);
  });
  const never = spawn(function never() {});
  never.kill(undefined, { block: false }); // killed before it starts
  await joinAll([producer, consumer, waiter, never]);
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  await sleeper.kill();
  const names = [...trackNames(events).values()].sort();
  assert.deepEqual(names, [
    "consumer",
    "main",
    "producer",
    "sleeper",
    "waiter",
  ]); // `never` never ran: no track
  assert.ok(waits(events).includes("sleeper: sleep (still waiting)"));
  assert.ok(waits(events).includes(`waiter: Event(clear) (${producer})`));
});

test("who woke a wait: the killer, a timer, the hub, the greenlet itself", async () => {
  startTrace();
  const victim = spawn(async function victim() {
    await sleep(60_000);
  });
  const killer = spawn(async function killer() {
    await sleep(0);
    await victim.kill();
  });
  await joinAll([victim, killer]);
  await withTimeout(1, () => sleep(60_000)).catch((e) => {
    if (!(e instanceof Timeout)) throw e;
  });
  await idle();
  const ready = new Event();
  const setter = spawn(function setter() {
    ready.set();
  });
  await ready.wait(); // woken by a notification of what setter did
  await setter.join();
  const lock = new Semaphore(0);
  const acquired = lock.acquire(); // main waits, in one flow…
  lock.release(); // …and releases it in another
  await acquired;
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  const w = waits(events);
  assert.ok(w.includes(`victim: sleep (${killer})`), w.join("\n"));
  assert.ok(w.includes(`killer: join of ${victim} (${victim})`), w.join("\n"));
  assert.ok(
    w.includes("main: withTimeout(1 ms) and sleep (timer)"),
    w.join("\n"),
  );
  assert.ok(w.includes("main: idle() (hub)"), w.join("\n"));
  assert.ok(w.includes(`main: Event(clear) (${setter})`), w.join("\n"));
  assert.ok(
    w.includes("main: Semaphore(counter=0, waiters=1) (itself)"),
    w.join("\n"),
  );
});

test("a wait inside withTimeout is woken by whoever woke it, with an arrow from the releaser", async () => {
  startTrace();
  const lock = new Semaphore(0);
  const waiter = spawn(async function waiter() {
    await withTimeout(60_000, () => lock.acquire());
    lock.release();
  });
  const releaser = spawn(async function releaser() {
    await sleep(0);
    lock.release();
  });
  await joinAll([waiter, releaser]);
  const events = stopTrace();
  assert.deepEqual(
    waits(events).filter((w) => w.startsWith("waiter")),
    [`waiter: withTimeout(60000 ms) and Semaphore(counter=0, waiters=1) (${releaser})`],
  );
  const names = trackNames(events);
  const wakes = events.filter((e) => e.cat === "wake" && e.ph === "s").map((
    e,
  ) => names.get(`${e.pid}/${e.tid}`));
  assert.ok(wakes.includes("releaser"), JSON.stringify(wakes));
});

test("startTrace twice throws, stopTrace without a trace throws; traces do not mix", async () => {
  assert.throws(
    () => stopTrace(),
    new Error(
      "Cannot stop trace: no trace is running; call startTrace() first",
    ),
  );
  startTrace();
  assert.throws(
    () => startTrace(),
    new Error(
      "Cannot start trace: a trace is running already; call stopTrace() first",
    ),
  );
  await spawn(function first() {}).join();
  const one = stopTrace();
  assert.throws(() => stopTrace(), /Cannot stop trace: no trace is running/);
  startTrace();
  await spawn(function second() {}).join();
  const two = stopTrace();
  assert.deepEqual([...trackNames(one).values()].sort(), ["first", "main"]);
  assert.deepEqual([...trackNames(two).values()].sort(), ["main", "second"]);
});

test("maxEvents caps the trace: recording stops there, and the trace says when", async () => {
  for (const bad of [0, -1, 1.5, Number.NaN, "10"]) {
    assert.throws(
      () => startTrace({ maxEvents: bad as number }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(
          "Cannot start trace: maxEvents must be an integer ≥ 1 or Infinity, received ",
        ),
    );
  }
  startTrace({ maxEvents: 3 });
  await spawn(async function looper() {
    for (let i = 0; i < 10; i++) await sleep(0);
  }).join();
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  // the spawn arrow's two ends would be events 3 and 4: neither is kept,
  // and nothing after (not even main's wait, which ends later)
  assert.deepEqual(outline(events), [
    "main X run run",
    "looper X run run",
    "main i trace trace truncated",
  ]);
  assert.equal(events.find((e) => e.ph === "i")?.args?.maxEvents, 3);
});

test("a second hub is a second process of the trace", async () => {
  startTrace();
  const other = new Hub();
  await other.spawn(async function elsewhere() {
    await sleep(0);
  }).join();
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  const processes = events.filter((e) => e.name === "process_name").map((e) =>
    `${e.pid} ${e.args?.name}`
  );
  assert.deepEqual(processes, ["1 gevent-ts hub", "2 gevent-ts hub 2"]);
  assert.ok(
    events.some((e) => e.pid === 2 && e.args?.name === "elsewhere"),
  );
});

test("a trace begun on the real hub stamps a virtual hub's events with its own clock: a 100 ms virtual sleep spans 100 ms", async () => {
  startTrace();
  await sleep(1);
  await withVirtualTime(async () => {
    await spawn(async function napper() {
      await sleep(100);
      await sleep(250);
    }).join();
  });
  await sleep(1);
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  const names = trackNames(events);
  const naps = events.filter((e) =>
    e.ph === "X" && e.cat === "wait" &&
    names.get(`${e.pid}/${e.tid}`) === "napper"
  ).map((e) => `${e.name} ${e.dur! / 1000} ms (${e.args?.wokenBy})`);
  assert.deepEqual(naps, [
    "sleep 100 ms (timer)",
    "sleep 250 ms (timer)",
  ]);
});

/** Runs testdata/trace_env.ts (its build under Node) with `env` added. */
function runTraced(
  env: Record<string, string>,
  denoFlags: string[],
  ...args: string[]
): Promise<ProcessResult> {
  if (isDeno) {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } })
      .Deno.execPath();
    return runProcess(
      deno,
      [
        "run",
        "--quiet",
        ...denoFlags,
        "testdata/trace_env.ts",
        ...args,
      ],
      undefined,
      60_000,
      env,
    );
  }
  return runProcess(
    process.execPath,
    ["npm/testdata/trace_env.mjs", ...args],
    undefined,
    60_000,
    env,
  );
}

test("GEVENT_TRACE=path traces a whole program and writes the file at its end", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gevent-trace-"));
  try {
    for (const exit of [[], ["exit"]]) {
      const path = join(dir, `trace${exit.length}.json`);
      const r = await runTraced(
        { GEVENT_TRACE: path },
        ["--allow-env=GEVENT_TRACE", `--allow-write=${dir}`],
        ...exit,
      );
      assert.equal(r.code, 0, r.output);
      assert.equal(r.output.trim(), "done");
      const events = assertPerfettoTrace(readFileSync(path, "utf8"));
      assert.deepEqual([...trackNames(events).values()].sort(), [
        "first",
        "main",
        "second",
      ]);
      assert.ok(
        waits(events).some((w) =>
          /^second: Semaphore\(counter=0, waiters=1\) \(<Greenlet "first"/
            .test(w)
        ),
        waits(events).join("\n"),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GEVENT_TRACE: a file that cannot be written is one line on stderr; the program's outcome stays", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gevent-trace-"));
  try {
    const path = join(dir, "missing-dir", "trace.json");
    const r = await runTraced(
      { GEVENT_TRACE: path },
      ["--allow-env=GEVENT_TRACE", `--allow-write=${dir}`],
    );
    assert.equal(r.code, 0, r.output);
    assert.equal(r.stdout.trim(), "done");
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(
      lines[0].startsWith(
        `gevent-ts: cannot write the trace to ${path} (GEVENT_TRACE): `,
      ),
      r.stderr,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "GEVENT_TRACE under Deno without --allow-env: not read, nothing traced, no prompt, no noise",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "gevent-trace-"));
    try {
      const path = join(dir, "trace.json");
      const r = await runTraced({ GEVENT_TRACE: path }, [
        `--allow-write=${dir}`,
      ]);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.output.trim(), "done");
      assert.equal(existsSync(path), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { denoOnly: true },
);

test("a waitable whose toString() throws is traced all the same", async () => {
  class Broken extends Linkable {
    #up = false;
    ready(): boolean {
      return this.#up;
    }
    raise(): void {
      this.#up = true;
      this.notifyLinks();
    }
    wait(): Promise<unknown> {
      return this.waitReady({});
    }
    override toString(): string {
      throw new Error("no description");
    }
  }
  const broken = new Broken();
  startTrace();
  const g = spawn(async function watcher() {
    await broken.wait();
  });
  await sleep(0);
  broken.raise();
  await g.join();
  const events = assertPerfettoTrace(traceJson(stopTrace()));
  assert.ok(
    waits(events).includes(
      `watcher: (a waitable whose toString() threw) (${getHub().main})`,
    ),
    waits(events).join("\n"),
  );
});
