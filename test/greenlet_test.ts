import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import {
  formatRunInfo,
  getCurrent,
  getCurrentSignal,
  getHub,
  Greenlet,
  GreenletExit,
  joinAll,
  killAll,
  Semaphore,
  setSiteMode,
  shield,
  sleep,
  spawn,
  spawnLater,
  Timeout,
  withTimeout,
} from "../mod.ts";
import {
  capturingErrors,
  deferred,
  errorsOf,
  isDeno,
  runProcess,
  test,
} from "./test_adapter.ts";
import { type WaitCase, waitContract } from "./test_waits.ts";

test("Greenlet members: id, name, args, parent, started, value", async () => {
  const g = new Greenlet(
    function adder(a: number, b: number) {
      return a + b;
    },
    2,
    3,
  );
  assert.equal(g.started, false);
  assert.equal(g.name, "adder");
  assert.deepEqual(g.args, [2, 3]);
  assert.equal(g.parent, getCurrent());
  assert.equal(g.toString(), `<Greenlet "adder" #${g.id}: adder(2, 3)>`);
  g.start();
  assert.equal(g.started, true);
  assert.equal(g.dead, false);
  assert.equal(await g.get(), 5);
  assert.equal(g.value, 5);
  assert.equal(g.ready(), true);
  assert.equal(g.successful(), true);
  const anon = spawn(() => 1);
  assert.equal(anon.name, `Greenlet-${anon.id}`);
  assert.deepEqual(anon.args, []);
  assert.ok(anon.id > g.id);
  anon.name = "renamed";
  assert.equal(anon.name, "renamed");
  assert.equal(
    anon.toString(),
    `<Greenlet "renamed" #${anon.id}: (anonymous)()>`,
  );
  await anon.join();
});

test("a child's parent is the greenlet that spawned it", async () => {
  const outer = spawn(async function outer() {
    const inner = spawn(function inner() {
      return getCurrent().parent;
    });
    return await inner.get();
  });
  assert.equal(await outer.get(), outer);
});

test.virtual("spawnLater starts after the delay, in deadline order", async () => {
  const log: string[] = [];
  const at = (name: string) => log.push(`${name}@${getHub().now()}`);
  const late = spawnLater(20, at, "late");
  const early = spawnLater(5, at, "early");
  const now = spawn(at, "now");
  assert.equal(late.started, true);
  await joinAll([late, early, now]);
  assert.deepEqual(log, ["now@0", "early@5", "late@20"]);
});

test("kill delivers GreenletExit at the switch point; finally blocks run", async () => {
  const log: string[] = [];
  const g = spawn(async function victim() {
    try {
      log.push("sleeping");
      await sleep(10_000);
      log.push("woke?!");
    } finally {
      log.push("finally");
    }
  });
  await sleep(0);
  log.push("killing");
  await g.kill();
  log.push("killed");
  assert.deepEqual(log, ["sleeping", "killing", "finally", "killed"]);
  assert.equal(g.dead, true);
  assert.equal(g.successful(), true);
  assert.ok(g.value instanceof GreenletExit);
});

test("kill before start prevents the function from ever running", async () => {
  let ran = false;
  const g = spawn(() => {
    ran = true;
  });
  await g.kill();
  await sleep(0);
  assert.equal(ran, false);
  assert.equal(g.dead, true);
  assert.ok(g.value instanceof GreenletExit);
  const later = spawnLater(5, () => {
    ran = true;
  });
  await later.kill();
  assert.equal(ran, false);
});

test("killing a greenlet that was never started leaves the others alone", async () => {
  const sleeper = spawn(async function sleeper() {
    await sleep(10_000);
  });
  const never = new Greenlet(function never() {});
  await never.kill(); // no switch point: it was never started
  never.start(); // dead: it never runs
  assert.deepEqual([never.dead, never.started], [true, false]);
  await sleep(0); // the sleeper starts
  assert.match(
    getHub().runInfo(),
    /<Greenlet "sleeper" #\d+: sleeper\(\)> waiting on sleep \(\d[^)]* left\)/,
  );
  await sleeper.kill();
  assert.equal(getHub().runInfo(), "");
});

test("kill with a custom error ends the greenlet with it, unreported: a kill is never a failure", async () => {
  await capturingErrors(async (errors) => {
    const g = spawn(async function worker() {
      await sleep(10_000);
    });
    await sleep(0);
    await g.kill(new Error("stop"));
    assert.equal(g.successful(), false);
    assert.equal((g.exception as Error).message, "stop");
    await assert.rejects(g.get(), { message: "stop" });
    assert.deepEqual(errors, []);
  });
});

test("kill aborts greenlet.signal at once with the same reason", async () => {
  const reasons: unknown[] = [];
  const g = spawn(async () => {
    const signal = getCurrent().signal;
    signal.addEventListener("abort", () => reasons.push(signal.reason));
    await sleep(10_000);
  });
  await sleep(0);
  const error = new GreenletExit("bye");
  const p = g.kill(error);
  assert.equal(g.signal.aborted, true); // synchronously, before any switch
  assert.equal(g.signal.reason, error);
  await p;
  assert.deepEqual(reasons, [error]);
});

test("a kill aimed at a greenlet awaiting something else lands at its next switch point", async () => {
  const gate = deferred();
  const log: string[] = [];
  const g = spawn(async () => {
    await gate.promise; // not owned by the hub
    log.push("gate opened");
    try {
      await sleep(0);
      log.push("after sleep?!");
    } catch (e) {
      log.push(`caught ${(e as Error).name}`);
      throw e;
    }
  });
  await sleep(0);
  const killed = g.kill(undefined, { block: false });
  await killed;
  log.push("kill returned");
  gate.resolve();
  await g.join();
  assert.deepEqual(log, [
    "kill returned",
    "gate opened",
    "caught GreenletExit",
  ]);
});

test.virtual("kill with block and timeout gives up on a greenlet still cleaning up; the first kill's error stands", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      await sleep(10_000);
    } finally {
      await shield(async () => {
        await sleep(30);
        log.push("cleaned up");
      });
    }
  });
  await sleep(0);
  await g.kill(undefined, { timeout: 5 });
  log.push(`after kill: dead=${g.dead}@${getHub().now()}`);
  await g.kill(new Error("second"));
  log.push(`dead=${g.dead}, GreenletExit=${g.value instanceof GreenletExit}`);
  assert.deepEqual(log, [
    "after kill: dead=false@5",
    "cleaned up",
    "dead=true, GreenletExit=true",
  ]);
  assert.equal(getHub().now(), 30);
});

test("links run once from the hub, in order; linkValue/linkException filter; unlink removes", async () => {
  const log: string[] = [];
  const ok = spawn(() => "v");
  const removed = () => log.push("removed?!");
  ok.link((g) => log.push(`link ${g.value}`));
  ok.linkValue(() => log.push("linkValue"));
  ok.linkException(() => log.push("linkException?!"));
  ok.link(removed);
  ok.unlink(removed);
  await capturingErrors(async () => {
    const bad = spawn(() => {
      throw new Error("x");
    });
    bad.linkValue(() => log.push("bad linkValue?!"));
    bad.linkException((g) => log.push(`bad linkException ${g.exception}`));
    await joinAll([ok, bad]);
    await sleep(0);
  });
  assert.deepEqual(log, [
    "link v",
    "linkValue",
    "bad linkException Error: x",
  ]);
  // linking a dead greenlet calls back at once, from the hub
  const late = deferred<string>();
  ok.link((g) => late.resolve(`late ${g.value}`));
  assert.equal(await late.promise, "late v");
});

test("unlinking the first registered callback stops it; the others run", async () => {
  const log: string[] = [];
  const g = spawn(() => "v");
  const first = () => log.push("first?!");
  g.link(first);
  g.link(() => log.push("second"));
  g.link(() => log.push("third"));
  g.unlink(first);
  await g.join();
  assert.deepEqual(log, ["second", "third"]);
});

test("a link callback that throws goes to handleError", async () => {
  await capturingErrors(async (errors) => {
    const g = spawn(function linked() {});
    g.link(() => {
      throw new Error("in link");
    });
    await g.join();
    await sleep(0);
    assert.deepEqual(errors, ["linked: Error: in link"]);
  });
});

test.virtual("get() returns the value, throws the error, or throws Timeout", async () => {
  await capturingErrors(async () => {
    assert.equal(await spawn(() => Promise.resolve("x")).get(), "x");
    await assert.rejects(
      spawn(() => {
        throw new RangeError("r");
      }).get(),
      RangeError,
    );
    const slow = spawn(() => sleep(10_000));
    await assert.rejects(slow.get({ timeout: 5 }), (e: unknown) => {
      assert.ok(e instanceof Timeout);
      assert.equal((e as Timeout).ms, 5);
      return true;
    });
    await slow.kill();
  });
});

test.virtual("join() never throws the greenlet's error; join(timeout) returns early", async () => {
  await capturingErrors(async (errors) => {
    const bad = spawn(() => {
      throw new Error("e");
    });
    await bad.join();
    assert.equal(bad.dead, true);
    const slow = spawn(() => sleep(10_000));
    await slow.join(5);
    assert.equal(slow.dead, false);
    assert.equal(getHub().now(), 5);
    await slow.kill();
    assert.equal(errors.length, 1);
  });
});

test("bad arguments throw at once, naming the argument and value", () => {
  assert.throws(() => spawn(42 as never), {
    name: "TypeError",
    message: "Cannot spawn: fn must be a function, received 42",
  });
  assert.throws(() => new Greenlet("f" as never), {
    name: "TypeError",
    message: 'Cannot spawn: fn must be a function, received "f"',
  });
  assert.throws(() => spawnLater(-1, () => {}), {
    name: "RangeError",
    message: "Cannot spawnLater: ms must be ≥ 0, received -1",
  });
  assert.throws(() => joinAll([1] as never), {
    name: "TypeError",
    message: "Cannot joinAll: every item must be a Greenlet, received 1",
  });
  assert.throws(() => joinAll([], { timeout: NaN }), {
    name: "TypeError",
    message:
      "Cannot joinAll: timeout must be a number of milliseconds or undefined, received NaN",
  });
  const g = new Greenlet(() => {});
  assert.throws(() => g.join(-5), {
    name: "RangeError",
    message: "Cannot join greenlet: timeout must be ≥ 0, received -5",
  });
  assert.throws(() => g.link("no" as never), TypeError);
  assert.throws(() => killAll(null as never), TypeError);
});

test("link callbacks run before join()/get() return, in registration order", async () => {
  const log: string[] = [];
  const g = spawn(async function worker() {
    await sleep(0);
    log.push("worker ends");
    return 7;
  });
  g.link(() => log.push("link 1"));
  g.rawlink(() => log.push("rawlink 2"));
  g.linkValue(() => log.push("linkValue 3"));
  g.linkException(() => log.push("linkException?!"));
  g.link(() => log.push("link 4"));
  await g.join();
  log.push("join returned");
  const h = spawn(() => "h");
  h.link(() => log.push("h link"));
  log.push(`get returned ${await h.get()}`);
  assert.deepEqual(log, [
    "worker ends",
    "link 1",
    "rawlink 2",
    "linkValue 3",
    "link 4",
    "join returned",
    "h link",
    "get returned h",
  ]);
});

test("join() of a greenlet that just died waits for its link callbacks", async () => {
  const log: string[] = [];
  const g = spawn(() => log.push("ran"));
  g.link(() => log.push("link"));
  await sleep(0); // g ran and died in this turn; its links are not notified yet
  assert.equal(g.dead, true);
  await g.join();
  log.push("join returned");
  assert.deepEqual(log, ["ran", "link", "join returned"]);
});

test("unlink from inside a callback stops a later callback of the same notification", async () => {
  const log: string[] = [];
  const g = spawn(() => "v");
  const second = () => log.push("second?!");
  const third = () => log.push("third");
  g.link(() => {
    log.push("first");
    g.unlink(second);
  });
  g.link(second);
  g.rawlink(third);
  await g.join();
  assert.deepEqual(log, ["first", "third"]);
});

test("kill({ block: false }) reaches a greenlet inside sleep(0) at that switch point", async () => {
  const log: string[] = [];
  const g = spawn(async function looper() {
    try {
      for (let i = 0;; i++) {
        log.push(`tick ${i}`);
        await sleep(0);
      }
    } catch (e) {
      log.push(`caught ${(e as Error).message}`);
    }
  });
  const k = spawn(function killer() {
    log.push("kill");
    g.kill(new Error("stop"), { block: false });
  });
  await joinAll([g, k]);
  assert.deepEqual(log, ["tick 0", "kill", "caught stop"]);
  // the kill reached it and it returned after catching: gevent's success
  assert.equal(g.successful(), true);
});

test("started is true from spawn() until the greenlet is dead (gevent's bool(g))", async () => {
  const g = new Greenlet(() => sleep(0));
  assert.equal(g.started, false);
  g.start();
  assert.equal(g.started, true);
  await sleep(0);
  assert.equal(g.started, true); // running, inside sleep(0)
  await g.join();
  assert.equal(g.dead, true);
  assert.equal(g.started, false);
  const never = spawn(() => {});
  await never.kill();
  assert.equal(never.started, false);
});

function joinCase(
  name: string,
  call: (g: Greenlet, timeout?: number) => Promise<unknown>,
  onTimeout: string,
  onReady: string,
): WaitCase {
  return {
    name,
    make() {
      const gate = new Semaphore(0);
      const target = spawn(function target() {
        return gate.acquire();
      });
      return {
        wait: (o) => call(target, o.timeout),
        wake: () => gate.release(),
        waitable: target,
        cleanup: () => target.kill(),
      };
    },
    onTimeout,
    onReady,
    signal: false,
    description: /join of <Greenlet "target" #\d+: target\(\)>/,
  };
}

waitContract(
  joinCase("Greenlet.join", (g, t) => g.join(t), "undefined", "undefined"),
);
waitContract(
  joinCase("Greenlet.get", (g, t) => g.get({ timeout: t }), "Timeout", "true"),
);

test("a kill during an await the hub does not own lands when it returns: the greenlet ends killed, finally ran", async () => {
  const log: string[] = [];
  const raw = deferred();
  const g = spawn(async function fetcher() {
    try {
      await raw.promise;
      log.push("raw returned");
      return "result";
    } finally {
      log.push("finally");
    }
  });
  await sleep(0);
  const killed = g.kill(); // resolves once g has ended
  log.push("kill issued");
  raw.resolve();
  await killed;
  log.push(`ended: ${g.value instanceof GreenletExit}, ${g.successful()}`);
  assert.deepEqual(log, [
    "kill issued",
    "raw returned",
    "finally",
    "ended: true, true",
  ]);
});

test("a killed greenlet stays cancelled: every hub-aware wait it starts throws the kill's error", async () => {
  const log: string[] = [];
  const free = new Semaphore(1);
  const other = spawn(() => sleep(10_000));
  const g = spawn(async function stubborn() {
    try {
      await sleep(10_000);
    } catch (e) {
      log.push(`sleep: ${(e as Error).name}`);
    }
    const attempts: [string, () => Promise<unknown>][] = [
      ["sleep(0)", () => sleep(0)],
      ["uncontended acquire", () => free.acquire()],
      ["join", () => other.join()],
      ["withTimeout", () => withTimeout(1_000, () => 1)],
    ];
    for (const [name, attempt] of attempts) {
      try {
        await attempt();
        log.push(`${name} worked?!`);
      } catch (e) {
        log.push(`${name}: ${(e as Error).name}`);
      }
    }
    log.push(`shield: ${await shield(() => sleep(1).then(() => "works"))}`);
  });
  await sleep(0);
  await g.kill();
  await other.kill();
  assert.deepEqual(log, [
    "sleep: GreenletExit",
    "sleep(0): GreenletExit",
    "uncontended acquire: GreenletExit",
    "join: GreenletExit",
    "withTimeout: GreenletExit",
    "shield: works",
  ]);
  assert.equal(free.counter, 1);
});

test.virtual("a flow that outlives its greenlet keeps waiting; its finally releases its permit", async () => {
  const log: string[] = [];
  const sem = new Semaphore(1);
  let flow!: Promise<void>;
  // like Express's `(req, res, next) => spawn(next)`: the function returns
  // while the flow it started goes on
  const g = spawn(function middleware() {
    flow = (async () => {
      const permit = await sem.hold();
      try {
        await sleep(10);
        log.push("flow slept");
      } finally {
        permit[Symbol.dispose]();
        log.push("flow finally");
      }
    })();
    return "returned";
  });
  await g.join();
  log.push(`greenlet ended: ${g.value}`);
  await sleep(1);
  assert.match(
    formatRunInfo(),
    /<Greenlet "middleware" #\d+: middleware\(\)> ended; a flow it started waits on sleep \(9 ms left\)/,
  );
  await flow;
  assert.deepEqual(log, [
    "greenlet ended: returned",
    "flow slept",
    "flow finally",
  ]);
  assert.equal(sem.counter, 1);
});

/**
 * A scripted workload for the exhaustive test: it holds a permit via
 * hold(), joins a helper and sleeps; `step` is logged before each switch.
 */
async function scripted(
  sem: Semaphore,
  log: string[],
  at: (step: number) => void,
): Promise<void> {
  let step = 0;
  const point = () => at(step++);
  try {
    point();
    using _permit = await sem.hold();
    try {
      point();
      const helper = spawn(() => sleep(2));
      point();
      await helper.join();
      point();
      await sleep(1);
      point();
      await sleep(0);
      point();
      await withTimeout(50, () => sleep(1));
    } finally {
      log.push("inner finally");
    }
  } finally {
    log.push("outer finally");
  }
}

test.virtual("exhaustively: a kill or a Timeout at every switch point leaves no permit, greenlet or finally behind", async () => {
  const POINTS = 6; // the switch points of `scripted`; POINTS itself: none
  for (const how of ["kill", "Timeout"] as const) {
    for (let target = 0; target <= POINTS; target++) {
      const where = `${how} at point ${target}`;
      const sem = new Semaphore(1);
      const log: string[] = [];
      const bystanderLog: string[] = [];
      const timeouts: Timeout[] = [];
      await capturingErrors(async (errors) => {
        const bystander = spawn(async function bystander() {
          for (let i = 0; i < 4; i++) {
            await sleep(1);
            bystanderLog.push(`b${i}`);
          }
        });
        const g = spawn(scripted, sem, log, (step: number) => {
          if (step !== target) return;
          if (how === "kill") getCurrent().kill(undefined, { block: false });
          else timeouts.push(Timeout.startNew(0));
        });
        await joinAll([g, bystander]);
        if (target === POINTS) {
          assert.equal(g.successful() && g.value === undefined, true, where);
          assert.deepEqual(errors, [], where);
        } else if (how === "kill") {
          assert.ok(g.value instanceof GreenletExit, where);
          assert.deepEqual(errors, [], where);
        } else {
          assert.ok(g.exception instanceof Timeout, where);
          assert.deepEqual(errors, ["scripted: Timeout: 0 ms"], where);
        }
      });
      for (const t of timeouts) t.cancel();
      assert.deepEqual(
        log,
        target === 0 && how === "kill"
          ? ["outer finally"] // killed before it held the permit
          : ["inner finally", "outer finally"],
        where,
      );
      assert.equal(sem.counter, 1, `${where}: the permit came back`);
      assert.deepEqual(bystanderLog, ["b0", "b1", "b2", "b3"], where);
    }
  }
});

// ---------------------------------------------------------------------------
// Promises the mutation run showed untested (issue 10)

test.virtual("GreenletExit's default message; main has no parent and cannot be killed", async () => {
  assert.equal(new GreenletExit().message, "GreenletExit");
  assert.equal(new GreenletExit().name, "GreenletExit");
  const main = getHub().main;
  assert.equal(main.parent, null);
  assert.equal(main.name, "main");
  assert.equal(main.hub, getHub());
  const message =
    'Cannot kill greenlet: main is the code outside greenlets, not a greenlet to kill, received <Greenlet "main" #0>';
  const log: string[] = [];
  const g = spawn(() => {
    assert.throws(() => main.kill(), { name: "TypeError", message });
    log.push("kill of main threw");
  });
  await sleep(1); // main's own wait is not interrupted
  log.push("main slept");
  await g.join();
  assert.deepEqual(log, ["kill of main threw", "main slept"]);
  const other = spawn(() => sleep(10));
  assert.throws(() => killAll([other, main]), {
    name: "TypeError",
    message: message.replace("kill greenlet", "killAll"),
  });
  assert.equal(other.dead, false); // nothing was killed
  await other.join();
});

test("successful() is false until the greenlet ended well; a sync body ends in its own run", async () => {
  const log: string[] = [];
  const g = spawn(() => {
    log.push(`running, successful: ${getCurrent().successful()}`);
    return 1;
  });
  spawn(() => log.push(`next sees dead: ${g.dead}, value: ${g.value}`));
  await sleep(0);
  assert.deepEqual(log, [
    "running, successful: false",
    "next sees dead: true, value: 1",
  ]);
  const a = spawn(async () => {
    await sleep(0);
    return 5;
  });
  await a.join();
  assert.equal(a.value, 5, "the awaited value, not the promise");
  // an object that is not a thenable is a value too: it ends in its run
  const box = { then: 1 };
  const o = spawn(() => box);
  spawn(() => log.push(`object body dead: ${o.dead}`));
  await sleep(0);
  assert.equal(o.value, box);
  assert.equal(log.at(-1), "object body dead: true");
  assert.equal(a.successful(), true);
});

test("startLater twice or start after it schedules one run; bad arguments name the call", async () => {
  let runs = 0;
  const g = new Greenlet(() => ++runs);
  g.startLater(1);
  g.startLater(1);
  g.start();
  await g.join();
  assert.equal(runs, 1);
  const h = new Greenlet(() => 0);
  assert.throws(() => h.startLater(-1), {
    name: "RangeError",
    message: "Cannot start greenlet later: ms must be ≥ 0, received -1",
  });
  assert.throws(() => g.get(5 as never), {
    name: "TypeError",
    message:
      "Cannot get greenlet result: options must be an object, received 5",
  });
  assert.throws(() => g.get({ timeout: -1 }), {
    name: "RangeError",
    message: "Cannot get greenlet result: timeout must be ≥ 0, received -1",
  });
  assert.throws(() => g.kill(undefined, { timeout: -1 }), {
    name: "RangeError",
    message: "Cannot kill greenlet: timeout must be ≥ 0, received -1",
  });
  assert.throws(() => g.kill(undefined, 5 as never), {
    name: "TypeError",
    message: "Cannot kill greenlet: options must be an object, received 5",
  });
  assert.throws(() => g.linkValue(5 as never), {
    name: "TypeError",
    message: "Cannot linkValue: callback must be a function, received 5",
  });
  assert.throws(() => g.linkException(5 as never), {
    name: "TypeError",
    message: "Cannot linkException: callback must be a function, received 5",
  });
});

test("linkValue and linkException callbacks run as main; their errors are reported as the greenlet's", async () => {
  await capturingErrors(async (errors) => {
    const log: string[] = [];
    const ok = spawn(() => 1);
    ok.linkValue(() => {
      log.push(`linkValue as ${getCurrent().name}`);
      throw new Error("from linkValue");
    });
    const bad = spawn(function bad() {
      throw new Error("x");
    });
    bad.linkException(() => log.push(`linkException as ${getCurrent().name}`));
    // a callback's rejected promise is reported too
    bad.linkException(() => Promise.reject(new Error("async callback")));
    await joinAll([ok, bad]);
    await sleep(0);
    assert.deepEqual(log, ["linkValue as main", "linkException as main"]);
    // a callback's error is reported as the greenlet's (gevent's context)
    assert.deepEqual(errors, [
      "bad: Error: x",
      `${ok.name}: Error: from linkValue`,
      "bad: Error: async callback",
    ]);
  });
});

test("a kill before start with a custom error ends the greenlet with it, unreported", async () => {
  await capturingErrors(async (errors) => {
    const stop = new RangeError("never started");
    const g = spawn(function idle() {
      return "ran?!";
    });
    await g.kill(stop);
    assert.equal(g.exception, stop);
    assert.equal(g.successful(), false);
    assert.deepEqual(errors, []);
  });
});

test("a kill delivered and caught leaves the function's outcome (gevent's case); a rethrown kill is quiet, a new error after it stands", async () => {
  const swallower = spawn(async () => {
    try {
      await sleep(10_000);
    } catch {
      // ignored
    }
    return "swallowed";
  });
  await sleep(0);
  await swallower.kill();
  assert.equal(swallower.value, "swallowed");
  assert.equal(swallower.successful(), true);
  await capturingErrors(async (errors) => {
    const first = new Error("first");
    const rethrows = spawn(async function rethrows() {
      await sleep(10_000);
    });
    const replaces = spawn(async function replaces() {
      try {
        await sleep(10_000);
      } catch {
        throw new TypeError("other");
      }
    });
    await sleep(0);
    await rethrows.kill(first);
    await replaces.kill(first);
    assert.equal(rethrows.exception, first);
    assert.ok(replaces.exception instanceof TypeError);
    assert.deepEqual(errors, ["replaces: TypeError: other"]);
  });
});

test("a second kill is delivered after the first, as in gevent; a function that caught both and returned succeeds", async () => {
  const seen: unknown[] = [];
  const e1 = new Error("one");
  const e2 = new Error("two");
  const g = spawn(async () => {
    for (let i = 0; i < 3; i++) {
      try {
        await sleep(10_000);
      } catch (e) {
        seen.push(e);
      }
    }
    return "done";
  });
  await sleep(0);
  g.kill(e1, { block: false });
  g.kill(e2, { block: false });
  await g.join();
  assert.deepEqual(seen, [e1, e2, e2]);
  assert.equal(g.value, "done");
  assert.equal(g.successful(), true);
});

test("a second kill before the first reached the greenlet waits its turn", async () => {
  const seen: unknown[] = [];
  const e1 = new Error("one");
  const e2 = new Error("two");
  const gate = deferred();
  const g = spawn(async () => {
    await gate.promise; // away: neither kill can land here
    for (let i = 0; i < 2; i++) {
      try {
        await sleep(10_000);
      } catch (e) {
        seen.push(e);
      }
    }
  });
  await sleep(0);
  g.kill(e1, { block: false });
  g.kill(e2, { block: false });
  gate.resolve();
  await g.join();
  assert.deepEqual(seen, [e1, e2]);
});

test.virtual("a greenlet whose flow still waits when it ends stays listed until the flow ends", async () => {
  let flow!: Promise<void>;
  const g = spawn(function starter() {
    flow = sleep(5); // waiting already when the function returns
    return "done";
  });
  await g.join();
  assert.match(
    formatRunInfo(),
    /<Greenlet "starter" #\d+: starter\(\)> ended; a flow it started waits on sleep \(/,
  );
  await flow;
  assert.doesNotMatch(formatRunInfo(), /starter/);
});

test(
  "the public types say what the values are (strict, exactOptionalPropertyTypes): testdata/types/consumer.ts type-checks, its @ts-expect-error lines are errors",
  async () => {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } })
      .Deno;
    const { code, output } = await runProcess(deno.execPath(), [
      "check",
      "--quiet",
      "--config",
      "testdata/types/deno.json",
      "testdata/types/consumer.ts",
    ]);
    assert.equal(code, 0, output);
  },
  { denoOnly: true },
);

test.virtual("result() is get() typed T: a killed greenlet's GreenletExit is thrown", async () => {
  const g = spawn(() => sleep(1000));
  await sleep(0);
  await g.kill();
  const exit = await g.get();
  assert.ok(exit instanceof GreenletExit);
  await assert.rejects(g.result(), (e) => e === exit);
  assert.equal(await spawn(() => "v").result(), "v");
  const failing = spawn(() => {
    throw new RangeError("bad");
  });
  await capturingErrors(async () => {
    await assert.rejects(failing.result(), RangeError);
  });
  const slow = spawn(() => sleep(50));
  await assert.rejects(slow.result({ timeout: 1 }), Timeout);
  assert.equal(getHub().now(), 1);
  await slow.join();
  assert.equal(getHub().now(), 50);
});

test("the README's server pattern: one greenlet per request, killed when the client goes away", async () => {
  const { createServer } = await import("node:http");
  const started = deferred();
  const handlerEnded = deferred<string>();
  const server = createServer((req, res) => {
    const g = spawn(async function handle() {
      if (req.url === "/slow") {
        started.resolve();
        try {
          await sleep(10_000);
        } catch (e) {
          handlerEnded.resolve(`/slow handler: ${(e as Error).name}`);
          throw e;
        }
      }
      res.end(`hello from ${getCurrent().name}`);
    });
    res.on("close", () => {
      if (!res.writableFinished) g.kill(undefined, { block: false });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  try {
    const ac = new AbortController();
    const slow = fetch(`http://127.0.0.1:${port}/slow`, { signal: ac.signal })
      .catch((e) => `client: ${(e as Error).name}`);
    await started.promise;
    ac.abort();
    assert.equal(await slow, "client: AbortError");
    assert.equal(await handlerEnded.promise, "/slow handler: GreenletExit");
    const res = await fetch(`http://127.0.0.1:${port}/fast`);
    assert.equal(await res.text(), "hello from handle");
  } finally {
    await new Promise((r) => server.close(r));
  }
});

// ---------------------------------------------------------------------------
// Completion wins over a late cancellation (API.md, Cancellation rule 2): a
// join()/get() whose greenlet ended has completed; a kill that comes k
// microtask hops later lands at the next switch point.

for (const scoped of [false, true]) {
  const via = scoped ? " inside withTimeout(1000)" : "";
  const joinOf = (t: Greenlet): Promise<void> =>
    scoped ? withTimeout(1000, () => t.join()) : t.join();
  const getOf = (t: Greenlet): Promise<unknown> =>
    scoped ? withTimeout(1000, () => t.get()) : t.get();
  // how g ended: by the kill, or before it (its sleep(0) was over already)
  const fate = (g: Greenlet) =>
    g.value instanceof GreenletExit ? "killed" : "ended";

  for (const call of ["join", "get"] as const) {
    test(`a kill after k microtask hops into greenlet.${call}() of a greenlet that ended meanwhile${via}: it returns`, async () => {
      const log: string[] = [];
      const expected: string[] = [];
      for (let k = 0; k <= 12; k++) {
        const target = new Greenlet(function target() {
          return "v";
        });
        const seen: unknown[] = [];
        const g = spawn(async () => {
          if (call === "join") {
            await joinOf(target);
            seen.push("joined");
          } else seen.push(await getOf(target));
          await sleep(0);
        });
        await sleep(0); // g waits
        target.start();
        for (let i = 0; i < k; i++) await null;
        const done = target.dead; // g's wait completed
        const ended = g.dead;
        g.kill(undefined, { block: false });
        await joinAll([g, target]);
        log.push(`k=${k}: saw [${seen}], ${fate(g)}`);
        expected.push(
          `k=${k}: saw [${done ? (call === "join" ? "joined" : "v") : ""}], ${
            ended ? "ended" : "killed"
          }`,
        );
      }
      assert.deepEqual(log, expected);
    });
  }

  test(`a kill after k microtask hops into greenlet.get() of a dead greenlet${via}: once called, it returns the value`, async () => {
    const log: string[] = [];
    const expected: string[] = [];
    const target = spawn(() => "v");
    await target.join();
    for (let k = 0; k <= 12; k++) {
      const seen: unknown[] = [];
      let called = false;
      const g = spawn(async () => {
        called = true;
        seen.push(await getOf(target));
        await sleep(0);
      });
      for (let i = 0; i < k; i++) await null;
      const completed = called; // a get of a dead greenlet completes at once
      const ended = g.dead;
      g.kill(undefined, { block: false });
      await g.join();
      log.push(`k=${k}: saw [${seen}], ${fate(g)}`);
      expected.push(
        `k=${k}: saw [${completed ? "v" : ""}], ${ended ? "ended" : "killed"}`,
      );
    }
    assert.deepEqual(log, expected);
  });
}

// ---------------------------------------------------------------------------
// Ordering rule 8: a greenlet runs alone between two switch points.

test("an await of a resolved promise, of null, or of ten hops in a greenlet lets no other greenlet run before it goes on (ordering rule 8)", async () => {
  const hops: [string, () => unknown][] = [
    ["await Promise.resolve()", () => Promise.resolve()],
    ["await null", () => null],
    ["ten hops", async () => {
      for (let i = 0; i < 10; i++) await null;
    }],
  ];
  const seen: string[] = [];
  for (const [name, hop] of hops) {
    const log: string[] = [];
    const body = async (who: string) => {
      log.push(`${who}1`);
      await hop();
      log.push(`${who}2`);
      await sleep(0);
      log.push(`${who}3`);
    };
    await joinAll([spawn(body, "a"), spawn(body, "b")]);
    seen.push(`${name}: ${log.join(" ")}`);
  }
  assert.deepEqual(seen, [
    "await Promise.resolve(): a1 a2 b1 b2 a3 b3",
    "await null: a1 a2 b1 b2 a3 b3",
    "ten hops: a1 a2 b1 b2 a3 b3",
  ]);
});

class MyException extends Error {
  constructor() {
    super("MyException");
    this.name = "MyException";
  }
}

test("gevent's test__issue330 test_kill_exception: kill({ block: false }) lands at the greenlet's sleep(0) in the same pass; caught, its outcome stands", async () => {
  const log: string[] = [];
  let caught: unknown;
  let g!: Greenlet;
  const errors = await errorsOf(async () => {
    g = spawn(async function catcher() {
      try {
        for (let i = 0; i < 5; i++) {
          log.push(`loop ${i}`);
          await sleep(0);
        }
      } catch (e) {
        caught = e;
        log.push(`caught ${(e as Error).name}`);
      }
    });
    await sleep(0);
    log.push("kill");
    g.kill(new MyException(), { block: false });
    await sleep(0);
    log.push(`after sleep(0): dead ${g.dead}`);
    await g.join();
  });
  assert.deepEqual(log, [
    "loop 0",
    "kill",
    "caught MyException",
    "after sleep(0): dead true",
  ]);
  assert.ok(caught instanceof MyException);
  assert.deepEqual(
    { successful: g.successful(), exception: g.exception, value: g.value },
    { successful: true, exception: undefined, value: undefined },
  );
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------
// Cancellation rules 1 and 2.

test("a catch-all retry loop is abandoned after a kill: kill() returns with it dead, ended killed, not a failure; the swallowing site is warned once", async () => {
  // The bound only keeps a core that never abandons the loop from spinning
  // for ever: a loop that reaches it was not abandoned.
  const BOUND = 100_000;
  let swallowed = 0;
  let g!: Greenlet;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...data: unknown[]) => void warnings.push(data.join(" "));
  let errors: string[];
  try {
    errors = await errorsOf(async () => {
      g = spawn(async function retrier() {
        while (swallowed < BOUND) {
          try {
            await sleep(20);
          } catch {
            swallowed++; // a catch-all: swallows the kill and retries
          }
        }
      });
      await sleep(0);
      await g.kill(undefined, { timeout: 1000 });
    });
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(
    {
      dead: g.dead,
      successful: g.successful(),
      killed: g.value instanceof GreenletExit,
      swallowed,
    },
    // the documented bound: ten deliveries, then the eleventh wait is the
    // one abandoned
    { dead: true, successful: true, killed: true, swallowed: 10 },
  );
  assert.deepEqual(errors, []);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /^gevent-ts: <Greenlet "retrier" #\d+: retrier\(\)> caught its kill \(GreenletExit\) 10 times and waited again at \S*greenlet_test\.\w+:\d+:\d+: that flow is abandoned \(its wait never settles\) and the greenlet ends killed$/,
  );
});

test.virtual("a catch-all retry loop inside withTimeout is abandoned at its deadline: withTimeout settles, the greenlet goes on", async () => {
  const log: string[] = [];
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...data: unknown[]) => void warnings.push(data.join(" "));
  try {
    const g = spawn(async () => {
      const v = await withTimeout(50, async () => {
        for (let i = 0; i < 1000; i++) {
          try {
            await sleep(20);
          } catch {
            // swallowed
          }
        }
        return "finished?!";
      }, { timeoutValue: "late" });
      log.push(`${v}@${getHub().now()}`);
      await sleep(5);
      log.push(`went on@${getHub().now()}`);
    });
    await g.join();
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(log, ["late@50", "went on@55"]);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /a withTimeout\(50 ms\) body caught its Timeout 10 times/,
  );
});

test("code that waits once in a catch after a kill and rethrows still runs its outer finally", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      try {
        await sleep(1000);
      } catch (e) {
        log.push(`caught ${(e as Error).name}`);
        try {
          await sleep(5);
        } finally {
          log.push("waited in catch");
        }
        throw e;
      }
    } finally {
      log.push("outer finally");
    }
  });
  await sleep(0);
  await g.kill();
  log.push(`dead ${g.dead}, killed ${g.value instanceof GreenletExit}`);
  assert.deepEqual(log, [
    "caught GreenletExit",
    "waited in catch",
    "outer finally",
    "dead true, killed true",
  ]);
});

test("a second kill with another error is delivered after the first, as in gevent: caught A at one wait, B at the next", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      await sleep(1000);
    } catch (e) {
      log.push(`caught ${(e as Error).message}`);
    }
    try {
      await sleep(1000);
    } catch (e) {
      log.push(`then ${(e as Error).message}`);
      throw e;
    }
  });
  await sleep(0);
  g.kill(new GreenletExit("A"), { block: false });
  g.kill(new GreenletExit("B"), { block: false });
  await g.join();
  log.push(
    `ended by ${(g.value as Error).message}, successful ${g.successful()}`,
  );
  assert.deepEqual(log, ["caught A", "then B", "ended by B, successful true"]);
});

test("a kill the greenlet catches and returns from is gevent's case: it ends successful with its value, nothing reported", async () => {
  const body = async () => {
    try {
      await sleep(1000);
      return "slept";
    } catch (e) {
      return `recovered from ${(e as Error).message}`;
    }
  };
  const gs: Greenlet[] = [];
  const errors = await errorsOf(async () => {
    gs.push(spawn(body), spawn(body));
    await sleep(0);
    await gs[0].kill(new Error("stop"));
    await gs[1].kill();
  });
  assert.deepEqual(
    gs.map((g) => [g.dead, g.successful(), g.value]),
    [
      [true, true, "recovered from stop"],
      [true, true, "recovered from GreenletExit"],
    ],
  );
  assert.deepEqual(errors, []);
});

test("a kill is never a failure: a driver's own error after getCurrentSignal() aborted it, or an AbortError, ends the greenlet killed, unreported", async () => {
  const driver = (reason: () => unknown) => async () => {
    const signal = getCurrentSignal();
    await new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(reason()))
    );
  };
  const gs: Greenlet[] = [];
  const errors = await errorsOf(async () => {
    gs.push(
      spawn(driver(() => new Error("driver closed"))),
      spawn(driver(() => new DOMException("aborted", "AbortError"))),
      spawn(driver(() =>
        Object.assign(new Error("The operation was aborted"), {
          name: "AbortError",
          code: "ABORT_ERR",
        })
      )),
      // node:timers/promises, unpatched: rejects with Node's own AbortError
      spawn(() => delay(10_000, undefined, { signal: getCurrentSignal() })),
    );
    await sleep(0);
    await killAll(gs);
  });
  assert.deepEqual(
    gs.map((g) => [g.dead, g.successful(), g.value instanceof GreenletExit]),
    gs.map(() => [true, true, true]),
  );
  assert.deepEqual(errors, []);
});

test("a real failure in shielded cleanup after a kill is reported", async () => {
  let g!: Greenlet;
  const errors = await errorsOf(async () => {
    g = spawn(async function closer() {
      try {
        await sleep(1000);
      } finally {
        await shield(async () => {
          await sleep(1);
          throw new Error("cleanup failed");
        });
      }
    });
    await sleep(0);
    await g.kill();
  });
  assert.deepEqual(
    [g.dead, g.successful(), (g.exception as Error | undefined)?.message],
    [true, false, "cleanup failed"],
  );
  assert.deepEqual(errors, ["closer: Error: cleanup failed"]);
});

/**
 * `file:///…/greenlet_test.ts:12:3` → `here:12:3` on Deno (the sources);
 * `here:L:C` on Node (the built test: other lines).
 */
function sited(text: string | null): string | null {
  return text === null ? null : text.replace(
    /^(?:file:\/\/)?\/\S*\/greenlet_test\.(?:ts|mjs|cjs):(\d+):(\d+)$/,
    (_, line, col) => isDeno ? `here:${line}:${col}` : "here:L:C",
  );
}

function here(line: number, col: number): string {
  return isDeno ? `here:${line}:${col}` : "here:L:C";
}

test("spawnSite is where spawn, spawnLater, new Greenlet or hub.spawn was called; null for main", async () => {
  const previous = setSiteMode("all");
  try {
    const body = () => 1;
    const gs = [
      spawn(body),
      spawnLater(1, body),
      new Greenlet(body),
      getHub().spawn(body),
    ];
    gs[2].start();
    class Mine extends Greenlet<number> {}
    const mine = new Mine(body);
    mine.start();
    assert.deepEqual([...gs, mine].map((g) => sited(g.spawnSite)), [
      here(1344, 7),
      here(1345, 7),
      here(1346, 7),
      here(1347, 16),
      here(1351, 18),
    ]);
    assert.equal(getHub().main.spawnSite, null);
    await joinAll([...gs, mine]);
  } finally {
    setSiteMode(previous);
  }
});

test("site modes: off records none; bounded records 200, then none until 100 ms passed", async () => {
  const previous = setSiteMode("off");
  try {
    const body = () => 1;
    const off = spawn(body);
    assert.equal(off.spawnSite, null);
    setSiteMode("bounded"); // a fresh window
    const gs = Array.from({ length: 300 }, () => spawn(body));
    assert.deepEqual(
      [gs.slice(0, 200), gs.slice(200)].map((part) =>
        part.filter((g) => g.spawnSite !== null).length
      ),
      [200, 0],
    );
    await new Promise((r) => setTimeout(r, 110)); // a new window is due
    // the clock is read once in 64 spawns: from then on, a new budget
    const later = Array.from({ length: 64 }, () => spawn(body));
    const recorded = later.map((g) => g.spawnSite !== null);
    const k = recorded.indexOf(true);
    assert.ok(k >= 0, "a new window within 64 spawns");
    assert.deepEqual(recorded, later.map((_, i) => i >= k));
    await joinAll([off, ...gs, ...later]);
  } finally {
    setSiteMode(previous);
  }
  assert.throws(() => setSiteMode("some" as never), {
    name: "TypeError",
    message:
      'Cannot set site mode: mode must be "all", "bounded" or "off", received "some"',
  });
});

test("toJSON: id, name, state, spawn site and parent; once dead, the outcome", async () => {
  const previous = setSiteMode("all");
  const gate = deferred();
  let child: Greenlet | null = null;
  const errors = await errorsOf(async () => {
    const parent = spawn(async function parent() {
      child = spawn(async function child() {
        await gate.promise; // an await the hub does not own
        throw new TypeError("fetch failed\nat line two");
      });
      await sleep(10_000);
    });
    const unstarted = new Greenlet(function unstarted() {});
    assert.deepEqual(JSON.parse(JSON.stringify([parent, unstarted])), [
      {
        id: parent.id,
        name: "parent",
        state: "scheduled",
        spawnSite: parent.spawnSite,
        parent: 0,
      },
      {
        id: unstarted.id,
        name: "unstarted",
        state: "unstarted",
        spawnSite: unstarted.spawnSite,
        parent: 0,
      },
    ]);
    assert.equal(sited(parent.spawnSite), here(1404, 20));
    await sleep(0);
    await sleep(0);
    const c = child! as Greenlet;
    assert.deepEqual([parent.toJSON(), c.toJSON()], [
      {
        id: parent.id,
        name: "parent",
        state: "waiting",
        spawnSite: parent.spawnSite,
        parent: 0,
      },
      {
        id: c.id,
        name: "child",
        state: "away",
        spawnSite: c.spawnSite,
        parent: parent.id,
      },
    ]);
    assert.equal(sited(c.spawnSite), here(1405, 15));
    gate.resolve();
    await c.join();
    await parent.kill();
    const killed = spawn(() => sleep(10_000));
    await sleep(0);
    await killed.kill(new RangeError("stop"));
    assert.deepEqual(
      [c, parent, killed].map((g) => {
        const { successful, exception } = g.toJSON();
        return { successful, exception };
      }),
      [
        { successful: false, exception: "TypeError: fetch failed" },
        { successful: true, exception: undefined },
        { successful: false, exception: "RangeError: stop" },
      ],
    );
    assert.equal(
      JSON.stringify(getHub().main),
      JSON.stringify({
        id: 0,
        name: "main",
        state: "running",
        spawnSite: null,
        parent: null,
      }),
    );
  }).finally(() => setSiteMode(previous));
  assert.deepEqual(errors, ["child: TypeError: fetch failed\nat line two"]);
});

test("a kill with an error of its own, landing while the greenlet is away and its function then returns, is not a failure either", async () => {
  const errors = await errorsOf(async () => {
    const gate = deferred();
    const reason = { name: "Custom", message: "not an Error" };
    const g = spawn(async () => {
      await gate.promise; // an await the hub does not own
      return "finished";
    });
    await sleep(0);
    g.kill(reason, { block: false });
    gate.resolve();
    await g.join();
    assert.equal(g.successful(), false);
    assert.equal(g.exception, reason);
  });
  assert.deepEqual(errors, []);
});
