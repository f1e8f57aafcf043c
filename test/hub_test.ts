import assert from "node:assert/strict";
import process from "node:process";
import {
  type Clock,
  getCurrent,
  getHub,
  GreenletExit,
  Hub,
  idle,
  iwait,
  joinAll,
  killAll,
  sleep,
  spawn,
  wait,
} from "../mod.ts";
import {
  deferred,
  isDeno,
  type ProcessResult,
  runProcess,
  test,
} from "./test_adapter.ts";

test("sleep(0): two greenlets alternate exactly", async () => {
  const log: string[] = [];
  async function f(name: string) {
    for (let i = 0; i < 4; i++) {
      log.push(`${name} ${i}`);
      await sleep(0);
    }
  }
  await joinAll([spawn(f, "a"), spawn(f, "b")]);
  assert.deepEqual(log, [
    "a 0",
    "b 0",
    "a 1",
    "b 1",
    "a 2",
    "b 2",
    "a 3",
    "b 3",
  ]);
});

test("sleep(0): the caller goes to the tail, behind everything runnable", async () => {
  const log: string[] = [];
  async function f(name: string) {
    log.push(`${name} start`);
    await sleep(0);
    log.push(`${name} end`);
  }
  const gs = [spawn(f, "a"), spawn(f, "b"), spawn(f, "c")];
  log.push("main before sleep");
  await sleep(0);
  log.push("main after sleep");
  await joinAll(gs);
  assert.deepEqual(log, [
    "main before sleep",
    "a start",
    "b start",
    "c start",
    "main after sleep",
    "a end",
    "b end",
    "c end",
  ]);
});

test("spawn never runs synchronously; greenlets start in spawn order", async () => {
  const log: string[] = [];
  const g1 = spawn(() => log.push("g1"));
  const g2 = spawn(() => log.push("g2"));
  log.push("after spawn");
  assert.equal(g1.started, true);
  await joinAll([g2, g1]);
  assert.deepEqual(log, ["after spawn", "g1", "g2"]);
});

test("getCurrent() is right across awaits of any kind", async () => {
  const seen: string[] = [];
  async function worker(name: string) {
    seen.push(`${name}:${getCurrent().name}`);
    await sleep(0);
    seen.push(`${name}:${getCurrent().name}`);
    await new Promise<void>((r) => setTimeout(r, 1));
    seen.push(`${name}:${getCurrent().name}`);
    await Promise.resolve();
    seen.push(`${name}:${getCurrent().name}`);
  }
  const a = spawn(worker, "a");
  a.name = "A";
  const b = spawn(worker, "b");
  b.name = "B";
  await joinAll([a, b]);
  assert.deepEqual(seen.filter((s) => s.startsWith("a")), [
    "a:A",
    "a:A",
    "a:A",
    "a:A",
  ]);
  assert.deepEqual(seen.filter((s) => s.startsWith("b")), [
    "b:B",
    "b:B",
    "b:B",
    "b:B",
  ]);
  assert.equal(getCurrent(), getHub().main);
  assert.equal(getCurrent().toString(), '<Greenlet "main" #0>');
});

test("timers: earlier deadlines first, equal deadlines in arming order", async () => {
  let t = 0;
  const clock: Clock = { now: () => t };
  const hub = new Hub({ clock });
  const log: string[] = [];
  const nap = async (name: string, ms: number) => {
    await sleep(ms);
    log.push(name);
  };
  const gs = [
    hub.spawn(nap, "x30", 30),
    hub.spawn(nap, "a10", 10),
    hub.spawn(nap, "b10", 10),
    hub.spawn(nap, "y20", 20),
    hub.spawn(nap, "c10", 10),
  ];
  await hub.spawn(() => sleep(0)).join(); // every nap is now armed at t = 0
  t = 30; // every deadline has passed when the native timer fires
  await joinAll(gs);
  assert.deepEqual(log, ["a10", "b10", "c10", "y20", "x30"]);
  assert.equal(hub.now(), 30);
});

test("timers: a clock that goes back still fires by deadline; a timer cancelled anywhere in its duration's list is gone", async () => {
  let t = 0;
  const clock: Clock = { now: () => t };
  const hub = new Hub({ clock });
  const log: string[] = [];
  const nap = async (name: string, ms: number, at: number) => {
    t = at; // what the clock says when this greenlet arms its timer
    await sleep(ms);
    log.push(`${name}@${hub.now()}`);
  };
  const a = hub.spawn(nap, "a", 10, 100); // deadline 110
  const b = hub.spawn(nap, "b", 10, 90); // 100: the clock went back
  const c = hub.spawn(nap, "c", 10, 95); // 105
  const k1 = hub.spawn(nap, "k1", 10, 96); // 106, killed
  const d = hub.spawn(nap, "d", 15, 95); // 110, armed after a
  const k2 = hub.spawn(nap, "k2", 10, 120); // 130, the last of its list, killed
  const k3 = hub.spawn(nap, "k3", 10, 80); // 90, the first of its list, killed
  await hub.spawn(() => sleep(0)).join(); // all armed
  for (const k of [k1, k2, k3]) await k.kill();
  t = 200;
  await joinAll([a, b, c, d]);
  const e = hub.spawn(nap, "e", 10, 200); // its duration's list anew
  const f = hub.spawn(nap, "f", 5, 200);
  await hub.spawn(() => sleep(0)).join();
  t = 300;
  await joinAll([e, f]);
  assert.deepEqual(log, ["b@200", "c@200", "a@200", "d@200", "f@300", "e@300"]);
});

test("a hub that does not hog the thread is not cut: once the runtime had a turn in the slice, sleep(0) resumes before an immediate queued just before it", async () => {
  // Each round the runtime has a turn (a raw setImmediate), then the
  // greenlet keeps the thread 0.1 ms: the 5 ms slices run out, but never
  // while hogging, so no drain is put off behind the runtime's immediates.
  const late: string[] = [];
  await spawn(async () => {
    for (let i = 0; i < 64; i++) {
      await new Promise<void>((r) => setImmediate(r));
      const until = performance.now() + 0.1;
      while (performance.now() < until) { /* busy */ }
      let immediate = false;
      setImmediate(() => immediate = true);
      await sleep(0);
      if (immediate) late.push(`round ${i}: the immediate ran first`);
    }
  }).join();
  assert.deepEqual(late, []);
});

test("an isolated hub runs its own greenlets; getHub() inside is that hub", async () => {
  const hub = new Hub();
  const g = hub.spawn(async () => {
    await sleep(1);
    return getHub() === hub && getCurrent().hub === hub;
  });
  assert.equal(g.hub, hub);
  assert.equal(await g.get(), true);
});

test("a greenlet looping on sleep(0) never starves timers or I/O", async () => {
  // Capped, so that a hub that never yields fails here instead of hanging.
  const CAP = 5_000_000;
  let fired = false;
  let spins = 0;
  const spinner = spawn(async () => {
    while (!fired && spins < CAP) {
      spins++;
      await sleep(0);
    }
  });
  setTimeout(() => (fired = true), 2);
  await spinner.join();
  assert.equal(fired, true, `the timer never ran during ${spins} switches`);
  assert.ok(spins < CAP);
});

test("a greenlet that runs for ms between its sleep(0)s still lets due timers fire (rule 5)", async () => {
  const log: string[] = [];
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* busy: longer than the hub's slice */ }
  };
  const SPINS = 24;
  setTimeout(() => log.push("timer"), 0);
  await spawn(async () => {
    for (let i = 0; i < SPINS; i++) {
      spin(6);
      log.push(`spin ${i}`);
      await sleep(0);
    }
  }).join();
  // After a turn of the runtime the hub looks at the clock at each early
  // hand-over; a slice (5 ms) ends once 8 hand-overs passed in it (or 20
  // ms), so that greenlets started together arm timers from one instant.
  // Each spin outlasts a slice: by the 17th the hub has handed the thread
  // back and the due timer fired. Before, it looked every 127 hand-overs:
  // the timer came after all 24 spins.
  const at = log.indexOf("timer");
  assert.ok(at >= 1 && at <= 17, `the timer fired at ${at}: ${log.join(", ")}`);
  assert.deepEqual(
    log.filter((e) => e !== "timer"),
    Array.from({ length: SPINS }, (_, i) => `spin ${i}`),
  );
});

test("idle() resolves once nothing is runnable", async () => {
  const log: string[] = [];
  spawn(async () => {
    log.push("a");
    await sleep(0);
    log.push("a again");
  });
  spawn(() => log.push("b"));
  await idle();
  log.push("idle");
  assert.deepEqual(log, ["a", "b", "a again", "idle"]);
});

test("spawns and resumptions in one hub pass share one run queue, in order", async () => {
  const log: string[] = [];
  const a = spawn(async () => {
    log.push("a0");
    await sleep(0);
    log.push("a1");
  });
  const b = spawn(async () => {
    log.push("b0");
    // c is queued behind a's resumption, ahead of b's own
    spawn(() => log.push("c"));
    await sleep(0);
    log.push("b1");
  });
  await joinAll([a, b]);
  assert.deepEqual(log, ["a0", "b0", "a1", "c", "b1"]);
});

test("a burst of greenlets that go away (awaits the hub does not own) all start within the runtime's next turn, one after another", async () => {
  // as requests that await I/O: each start waits until the one before is
  // found away (the microtask queue drained), yet not one loop turn each
  const log: string[] = [];
  const gate = deferred();
  const gs = [];
  for (let i = 0; i < 5; i++) {
    gs.push(spawn(async () => {
      log.push(`start ${i}`);
      await Promise.resolve(); // microtask hops still run alone
      await Promise.resolve();
      log.push(`hop ${i}`);
      await gate.promise; // away
      log.push(`end ${i}`);
    }));
  }
  // two loop turns: every start and hop is in before
  await new Promise<void>((r) => setImmediate(() => setImmediate(r)));
  log.push("two turns");
  gate.resolve();
  await joinAll(gs);
  assert.deepEqual(log, [
    "start 0",
    "hop 0",
    "start 1",
    "hop 1",
    "start 2",
    "hop 2",
    "start 3",
    "hop 3",
    "start 4",
    "hop 4",
    "two turns",
    "end 0",
    "end 1",
    "end 2",
    "end 3",
    "end 4",
  ]);
});

test("idle() does not resolve while a greenlet keeps switching", async () => {
  let rounds = 0;
  const g = spawn(async () => {
    for (; rounds < 200; rounds++) await sleep(0);
  });
  await idle();
  assert.equal(rounds, 200);
  assert.equal(g.dead, true);
});

test("thousands of greenlets runnable at once all run, in order, twice", async () => {
  const N = 3000; // far more than the run queue's first ring
  const log: number[] = [];
  const gs = [];
  for (let i = 0; i < N; i++) {
    gs.push(spawn(async () => {
      log.push(i);
      await sleep(0);
      log.push(N + i);
    }));
  }
  await joinAll(gs);
  assert.deepEqual(log, Array.from({ length: 2 * N }, (_, i) => i));
});

test("a failed greenlet goes to hub.handleError, never an unhandled rejection", async () => {
  const hub = getHub();
  const original = hub.handleError;
  const seen: string[] = [];
  hub.handleError = (g, e) => {
    seen.push(`${g}: ${(e as Error).message}`);
  };
  try {
    const g = spawn(function broken() {
      throw new Error("boom");
    });
    await g.join();
    assert.equal(g.successful(), false);
    assert.equal((g.exception as Error).message, "boom");
    assert.deepEqual(seen, [`<Greenlet "broken" #${g.id}: broken()>: boom`]);
  } finally {
    hub.handleError = original;
  }
});

test(
  "the default handleError prints the greenlet, the stack and the cause chain; the process goes on",
  async () => {
    const { stdout, stderr, code } = await runFixture("handle_error");
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "still running: failed=true\n");
    const lines = stderr.trimEnd().split("\n");
    assert.match(
      lines[1],
      /^\s+at failing \(.*handle_error\.(ts|mjs):\d+:\d+\)$/,
    );
    // each run of stack frames as one line
    const shown = lines.filter((l, i) =>
      !/^\s+at /.test(l) || !/^\s+at /.test(lines[i - 1])
    ).map((l) => l.replace(/^\s+at .*/, "    at …"));
    assert.deepEqual(shown.map(sitesIn), [
      `<Greenlet "failing" #1: failing()> (spawned at ${
        at("handle_error", 6, 11)
      }) failed with TypeError: bad`,
      "    at …",
      `<Greenlet "fetchPage" #2: fetchPage("http://127.0.0.1:6000/")> (spawned at ${
        at("handle_error", 10, 11)
      }) failed with TypeError: fetch failed`,
      "    at …",
      "Caused by: Error: bad port",
      "    at …",
      "Caused by: port 6000 is blocked",
    ]);
  },
);

test(
  "the test adapter fails a test whose greenlet failed unless it declared it",
  async () => {
    const deno =
      (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    const { output, code } = await runProcess(deno.execPath(), [
      "test",
      "--allow-all",
      "testdata/adapter/greenlet_errors.ts",
    ]);
    assert.notEqual(code, 0, output);
    assert.match(
      output,
      /the test did not expect it[^\n]*\n\s+<Greenlet "thrower" #\d+: thrower\(\)>: TypeError: boom/,
    );
    assert.match(output, /undeclared \.\.\. FAILED/);
    assert.match(output, /declared \.\.\. ok/);
    assert.match(output, /1 passed \| 1 failed/);
  },
  { denoOnly: true },
);

test("bad arguments throw at once, naming the argument and value", () => {
  assert.throws(() => sleep(-5), {
    name: "RangeError",
    message: "Cannot sleep: ms must be ≥ 0, received -5",
  });
  assert.throws(() => sleep(NaN), {
    name: "TypeError",
    message:
      /^Cannot sleep: ms must be a number of milliseconds or undefined, received NaN$/,
  });
  assert.throws(() => wait(undefined, { timeout: -1 }), RangeError);
  assert.throws(() => wait([{}] as never), {
    name: "TypeError",
    message: /^Cannot wait: every object must be a Greenlet/,
  });
  assert.throws(() => iwait(42 as never), TypeError);
  assert.throws(() => new Hub({ clock: {} as Clock }), {
    name: "TypeError",
    message: /^Cannot create Hub: clock must have a now\(\) method/,
  });
});

test("LoopExit names every blocked greenlet instead of hanging", async () => {
  const { output, code } = await runFixture("deadlock");
  assert.equal(code, 0, output);
  const lines = sitesIn(output.trim()).split("\n");
  // each greenlet by its spawn site, the Semaphore by its creation site
  const sem = `Semaphore(counter=0, waiters=2) (created at ${
    at("deadlock", 6, 15)
  })`;
  assert.deepEqual(lines, [
    "caught LoopExit",
    "This operation would block forever: nothing is left that could wake these greenlets:",
    '  <Greenlet "main" #0> is waiting on joinAll of 2 greenlets (0 done)',
    `  <Greenlet "first" #1: first()> (spawned at ${
      at("deadlock", 7, 17)
    }) is waiting on ${sem}`,
    `  <Greenlet "second" #2: second()> (spawned at ${
      at("deadlock", 10, 18)
    }) is waiting on ${sem}`,
    "blocked: 3",
    // its frames: where main waits, in the fixture's code
    `    at main (${at("deadlock", 14, 11)})`,
    `    at ${at("deadlock", 30, 1)}`, // main() called at top level
  ]);
});

test("LoopExit names each primitive by where it was made, and who holds it: a Semaphore's permits, an RLock", async () => {
  const { output, code } = await runFixture("deadlock_holders");
  assert.equal(code, 0, output);
  const takesB = '<Greenlet "takesB" #2: takesB()>';
  assert.deepEqual(sitesIn(output.trim()).split("\n"), [
    "This operation would block forever: nothing is left that could wake these greenlets:",
    `  <Greenlet "main" #0> is waiting on Semaphore(counter=0, waiters=1) (created at ${
      at("deadlock_holders", 7, 13)
    }; held by <Greenlet "takesA" #1: takesA()> (dead))`,
    `  <Greenlet "waitsOnB" #3: waitsOnB()> (spawned at ${
      at("deadlock_holders", 18, 3)
    }) is waiting on Semaphore(counter=0, waiters=1) (created at ${
      at("deadlock_holders", 8, 13)
    }; held by ${takesB} (dead))`,
    `  <Greenlet "waitsOnLock" #4: waitsOnLock()> (spawned at ${
      at("deadlock_holders", 21, 3)
    }) is waiting on RLock(owner=${takesB}, depth=1, waiters=1) (created at ${
      at("deadlock_holders", 9, 16)
    }; its owner has ended)`,
  ]);
});

test(
  "an uncaught LoopExit ends the program showing its message and a stack, nothing else",
  async () => {
    const { code, stderr, stdout } = await runFixture("deadlock_uncaught");
    assert.notEqual(code, 0);
    assert.equal(stdout, "");
    // each run of stack frames as one line, no paths or versions
    const lines = stderr.trimEnd().split("\n");
    const shown = lines.filter((l, i) =>
      !/^\s+at /.test(l) || !/^\s+at /.test(lines[i - 1])
    ).map((l) =>
      l.replace(/^\s+at .*/, "    at …")
        // file:///….mjs:12 (ESM) or /…/_core.cjs:12 (the CJS core)
        .replace(/^(file:\/\/)?\/\S+:\d+$/, "file:line")
        .replace(/^Node\.js v[\d.]+$/, "Node.js vN")
        .replace(/^(node:internal\/\S+):\d+$/, "$1:N")
    );
    const message = [
      "This operation would block forever: nothing is left that could wake this greenlet:",
      `  <Greenlet "main" #0> is waiting on Semaphore(counter=0, waiters=1) (created at ${
        at("deadlock_uncaught", 6, 9)
      })`,
    ];
    assert.deepEqual(
      shown.map(sitesIn),
      isDeno
        ? [
          `error: Uncaught (in promise) LoopExit: ${message[0]}`,
          message[1],
          "    at …",
        ]
        // Node shows where it reports it above (the error's own frames
        // are the user's), and its version below
        : [
          "node:internal/process/promises:N",
          "    triggerUncaughtException(err, true /* fromPromise */);",
          "    ^",
          "",
          `LoopExit: ${message[0]}`,
          message[1],
          "    at …",
          "",
          "Node.js vN",
        ],
    );
    // its frames are the fixture's, where main waits: not the hub's
    const frames = lines.filter((l) => /^\s+at /.test(l)).map(sitesIn);
    assert.deepEqual(frames, [
      `    at main (${at("deadlock_uncaught", 6, 26)})`,
      `    at ${at("deadlock_uncaught", 10, 1)}`,
    ]);
  },
);

test("a deadlocked top-level await: LoopExit on Node; Deno ends the program first", async () => {
  const { output, code } = await runFixture("deadlock_tla");
  if (isDeno) {
    assert.notEqual(code, 0);
    assert.match(output, /Top-level await promise never resolved/);
  } else {
    assert.equal(code, 0, output);
    assert.equal(output.trim(), "caught LoopExit");
  }
});

/**
 * Runs a program of testdata/ in a child process: the source under Deno, its
 * build (pointed at the ESM bundle) under Node.
 */
/**
 * `file:///…/name.ts:6:15` → `name:6:15` on Deno, which runs the fixtures'
 * sources; `name:L:C` on Node, which runs them built (other lines).
 */
function sitesIn(text: string): string {
  return text.replace(
    /(?:file:\/\/)?\/[^\s()]*\/(\w+)\.(?:ts|mjs|cjs):(\d+):(\d+)/g,
    (_, file, line, col) => isDeno ? `${file}:${line}:${col}` : `${file}:L:C`,
  );
}

/** A site in a fixture as {@linkcode sitesIn} shows it. */
function at(file: string, line: number, col: number): string {
  return isDeno ? `${file}:${line}:${col}` : `${file}:L:C`;
}

async function runFixture(name: string): Promise<ProcessResult> {
  const path = isDeno ? `testdata/${name}.ts` : `npm/testdata/${name}.mjs`;
  const exe = isDeno
    ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno
      .execPath()
    : process.execPath;
  const args = isDeno ? ["run", "--quiet", path] : [path];
  return await runProcess(exe, args);
}

test("long timers: beyond 2^31-1 ms and Infinity, no warning and no spinning", async () => {
  const { output, code } = await runFixture("long_timers");
  assert.equal(code, 0, output);
  assert.doesNotMatch(output, /Warning|overflow/i);
  const m = output.match(/cpu ms while idle: (\d+)/);
  assert.ok(m, output);
  // a hub re-arming a 1 ms timer would burn most of the 300 ms
  assert.ok(Number(m[1]) < 100, output);
});

test("a kill reaches only its own greenlet's queued sleep(0), however the run queue's slots are reused", async () => {
  // On a fresh hub (a small run queue that wraps around): 200 greenlets
  // leave a stale run-queue slot behind (their sleep(0) ran) and wait; 300
  // others switch constantly, reusing those slots; the first 200 are
  // killed meanwhile: no switcher may receive their kills.
  const hub = new Hub();
  const result = await hub.spawn(async () => {
    const sleepers = Array.from({ length: 200 }, () =>
      spawn(async () => {
        await sleep(0);
        await sleep(10_000);
      }));
    const switchers = Array.from({ length: 300 }, () =>
      spawn(async () => {
        for (let k = 0; k < 20; k++) await sleep(0);
        return "done";
      }));
    // the killer runs after the switchers in each pass, when their next
    // sleep(0)s are queued
    const killer = spawn(async () => {
      for (let k = 0; k < 5; k++) {
        await sleep(0);
        killAll(sleepers.slice(k * 40, k * 40 + 40), { block: false });
      }
    });
    await joinAll([...sleepers, ...switchers, killer]);
    return [
      switchers.filter((g) => g.value === "done").length,
      sleepers.filter((g) => g.value instanceof GreenletExit).length,
    ];
  }).get();
  assert.deepEqual(result, [300, 200]);
});
