import assert from "node:assert/strict";
import {
  getCurrent,
  getHub,
  Greenlet,
  GreenletExit,
  joinAll,
  killAll,
  Semaphore,
  shield,
  sleep,
  spawn,
  spawnLater,
  Timeout,
} from "./mod.ts";
import { capturingErrors, deferred, test } from "./test_adapter.ts";
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
  assert.equal(g.toString(), `<Greenlet "adder" #${g.id}>`);
  g.start();
  assert.equal(g.started, true);
  assert.equal(g.dead, false);
  assert.equal(await g.get(), 5);
  assert.equal(g.value, 5);
  assert.equal(g.ready(), true);
  assert.equal(g.successful(), true);
  const anon = spawn(() => 1);
  assert.equal(anon.name, `Greenlet-${anon.id}`);
  assert.ok(anon.id > g.id);
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

test("spawnLater starts after the delay, in deadline order", async () => {
  const log: string[] = [];
  const late = spawnLater(20, () => log.push("late"));
  const early = spawnLater(5, () => log.push("early"));
  const now = spawn(() => log.push("now"));
  assert.equal(late.started, true);
  await joinAll([late, early, now]);
  assert.deepEqual(log, ["now", "early", "late"]);
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
  await never.kill();
  never.start(); // dead: it never runs
  assert.deepEqual([never.dead, never.started], [true, false]);
  assert.match(
    getHub().runInfo(),
    /<Greenlet "sleeper" #\d+> waiting on sleep/,
  );
  await sleeper.kill();
  assert.equal(getHub().runInfo(), "");
});

test("kill with a custom error fails the greenlet and reports it", async () => {
  await capturingErrors(async (errors) => {
    const g = spawn(async function worker() {
      await sleep(10_000);
    });
    await sleep(0);
    await g.kill(new Error("stop"));
    assert.equal(g.successful(), false);
    assert.equal((g.exception as Error).message, "stop");
    await assert.rejects(g.get(), { message: "stop" });
    assert.deepEqual(errors, ["worker: Error: stop"]);
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

test("kill with block and timeout gives up on a greenlet still cleaning up; the first kill's error stands", async () => {
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
  log.push(`after kill: dead=${g.dead}`);
  await g.kill(new Error("second"));
  log.push(`dead=${g.dead}, GreenletExit=${g.value instanceof GreenletExit}`);
  assert.deepEqual(log, [
    "after kill: dead=false",
    "cleaned up",
    "dead=true, GreenletExit=true",
  ]);
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

test("get() returns the value, throws the error, or throws Timeout", async () => {
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

test("join() never throws the greenlet's error; join(timeout) returns early", async () => {
  await capturingErrors(async (errors) => {
    const bad = spawn(() => {
      throw new Error("e");
    });
    await bad.join();
    assert.equal(bad.dead, true);
    const slow = spawn(() => sleep(10_000));
    await slow.join(5);
    assert.equal(slow.dead, false);
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
  await capturingErrors(async (errors) => {
    await joinAll([g, k]);
    // it returned after catching, but a killed greenlet ends killed
    assert.deepEqual(errors, ["looper: Error: stop"]);
  });
  assert.deepEqual(log, ["tick 0", "kill", "caught stop"]);
  assert.equal((g.exception as Error).message, "stop");
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
    description: /join of <Greenlet "target" #\d+>/,
  };
}

waitContract(
  joinCase("Greenlet.join", (g, t) => g.join(t), "undefined", "undefined"),
);
waitContract(
  joinCase("Greenlet.get", (g, t) => g.get({ timeout: t }), "Timeout", "true"),
);
