import assert from "node:assert/strict";
import {
  AsyncResult,
  Event,
  formatRunInfo,
  getHub,
  joinAll,
  sleep,
  spawn,
  Timeout,
  wait,
} from "./mod.ts";
import { capturingErrors, test } from "./test_adapter.ts";
import { waitContract } from "./test_waits.ts";

waitContract({
  name: "Event.wait",
  make() {
    const e = new Event();
    return { wait: (o) => e.wait(o), wake: () => e.set(), waitable: e };
  },
  onTimeout: "false",
  onReady: "true",
  signal: true,
  description: /Event\(clear\)/,
});

waitContract({
  name: "AsyncResult.get",
  make() {
    const r = new AsyncResult<string>();
    return { wait: (o) => r.get(o), wake: () => r.set("v"), waitable: r };
  },
  onTimeout: "Timeout",
  onReady: "v",
  signal: true,
  description: /AsyncResult\(pending\)/,
});

waitContract({
  name: "AsyncResult.wait",
  make() {
    const r = new AsyncResult<string>();
    return { wait: (o) => r.wait(o), wake: () => r.set("v"), waitable: r };
  },
  onTimeout: "undefined",
  onReady: "v",
  signal: true,
  description: /AsyncResult\(pending\)/,
});

test("Event.set wakes every waiter in wait order, links first, from the run queue", async () => {
  const e = new Event();
  const log: string[] = [];
  const waiter = async (name: string) => {
    log.push(`${name} waits`);
    log.push(`${name} woke ${await e.wait()}`);
  };
  const gs = ["a", "b", "c"].map((n) => spawn(waiter, n));
  await sleep(0);
  e.link(() => log.push("link"));
  log.push("set");
  e.set();
  log.push("after set"); // nothing ran yet: wake-ups go through the queue
  await joinAll(gs);
  assert.deepEqual(log, [
    "a waits",
    "b waits",
    "c waits",
    "set",
    "after set",
    "link",
    "a woke true",
    "b woke true",
    "c woke true",
  ]);
});

test.virtual("Event: set then clear at once still wakes the waiters (with true); later waits block", async () => {
  const e = new Event();
  const log: string[] = [];
  const gs = ["a", "b"].map((n) =>
    spawn(async () => log.push(`${n} ${await e.wait()}`))
  );
  await sleep(0);
  e.set();
  e.clear();
  assert.equal(e.isSet(), false);
  await joinAll(gs);
  log.push(`late ${await e.wait(5)}@${getHub().now()}`);
  assert.deepEqual(log, ["a true", "b true", "late false@5"]);
});

test("Event: a wait that finds it set while waiters are being woken runs after them (gevent issue 1520)", async () => {
  const e = new Event();
  const log: string[] = [];
  const blocked = spawn(async () => log.push(`blocked ${await e.wait()}`));
  await sleep(0);
  const late = spawn(async () => log.push(`late ${await e.wait()}`));
  e.set(); // late starts after this, while the wake-up is queued
  await joinAll([blocked, late]);
  assert.deepEqual(log, ["blocked true", "late true"]);
  assert.equal(await e.wait(), true); // set and idle: at once
});

test("Event.wait times out with false (never throws for it) and takes { timeout, signal }", async () => {
  const e = new Event();
  assert.equal(await e.wait(0), false);
  assert.equal(await e.wait({ timeout: 1 }), false);
  const ac = new AbortController();
  const p = e.wait({ signal: ac.signal });
  ac.abort(new Error("stop"));
  await assert.rejects(p, { message: "stop" });
  e.set();
  assert.equal(await e.wait(0), true);
  assert.equal(String(e), "Event(set)");
});

test("Event and AsyncResult reject bad arguments at once, naming the value", () => {
  const e = new Event();
  assert.throws(() => e.wait(-5), {
    name: "RangeError",
    message: "Cannot wait on Event: timeout must be ≥ 0, received -5",
  });
  assert.throws(() => e.wait({ timeout: "1" as never }), {
    name: "TypeError",
    message:
      'Cannot wait on Event: timeout must be a number of milliseconds or undefined, received "1"',
  });
  const r = new AsyncResult();
  assert.throws(() => r.get(5 as never), {
    name: "TypeError",
    message: "Cannot get AsyncResult: options must be an object, received 5",
  });
  assert.throws(() => r.get({ signal: {} as never }), {
    name: "TypeError",
    message:
      "Cannot get AsyncResult: signal must be an AbortSignal, received {}",
  });
  assert.throws(() => r.wait(NaN), TypeError);
  assert.throws(() => r.link(5 as never), {
    name: "TypeError",
    message: "Cannot link: callback must be a function, received 5",
  });
});

test("AsyncResult: set wakes get and wait in order; value, ready, successful", async () => {
  const r = new AsyncResult<number>();
  const log: string[] = [];
  const getter = spawn(async () => log.push(`get ${await r.get()}`));
  const waiter = spawn(async () => log.push(`wait ${await r.wait()}`));
  await sleep(0);
  assert.equal(r.ready(), false);
  assert.equal(String(r), "AsyncResult(pending)");
  r.set(7);
  log.push("set");
  await joinAll([getter, waiter]);
  assert.deepEqual(log, ["set", "get 7", "wait 7"]);
  assert.equal(r.ready(), true);
  assert.equal(r.successful(), true);
  assert.equal(r.value, 7);
  assert.equal(r.exception, undefined);
  assert.equal(r.getNowait(), 7);
  assert.equal(await r.get(), 7);
  assert.equal(String(r), "AsyncResult(value)");
});

test("AsyncResult.setException: get and getNowait throw it, wait resolves undefined", async () => {
  const r = new AsyncResult<number>();
  const boom = new Error("boom");
  const g = spawn(async () => {
    try {
      await r.get();
      return "got?!";
    } catch (e) {
      return e === boom ? "threw boom" : `other ${e}`;
    }
  });
  await sleep(0);
  r.setException(boom);
  assert.equal(await g.get(), "threw boom");
  assert.equal(r.successful(), false);
  assert.equal(r.exception, boom);
  assert.equal(r.value, undefined);
  assert.equal(await r.wait(), undefined);
  assert.throws(() => r.getNowait(), boom);
  assert.equal(String(r), "AsyncResult(exception)");
});

test("AsyncResult is one-shot; getNowait before a value throws Timeout", () => {
  const r = new AsyncResult<number>();
  assert.throws(() => r.getNowait(), Timeout);
  r.set(1);
  assert.throws(() => r.set(2), {
    message: "Cannot set AsyncResult: it is one-shot and already holds a value",
  });
  assert.throws(() => r.setException(new Error("x")), {
    message:
      "Cannot setException on AsyncResult: it is one-shot and already holds a value",
  });
  assert.equal(r.value, 1);
  const e = new AsyncResult();
  e.setException(new Error("x"));
  assert.throws(() => e.set(1), /already holds an exception/);
});

test.virtual("AsyncResult.get with a timeout throws Timeout; the result can still be set later", async () => {
  const r = new AsyncResult<string>();
  await assert.rejects(r.get({ timeout: 2 }), Timeout);
  assert.equal(getHub().now(), 2);
  r.set("later");
  assert.equal(await r.get({ timeout: 2 }), "later");
});

test("g.link(result) forwards a greenlet's value, its failure, and a kill's GreenletExit", async () => {
  const ok = new AsyncResult<number>();
  spawn(() => 5).link(ok);
  assert.equal(await ok.get(), 5);

  const failed = new AsyncResult<number>();
  const boom = new Error("boom");
  await capturingErrors(async (errors) => {
    const g = spawn(() => {
      throw boom;
    });
    g.link(failed);
    await assert.rejects(failed.get(), boom);
    assert.deepEqual(errors, [`${g.name}: Error: boom`]);
  });

  const killed = new AsyncResult();
  const k = spawn(() => sleep(1000));
  k.link(killed);
  await sleep(0);
  await k.kill();
  assert.equal(killed.successful(), true);
  assert.equal((await killed.get() as Error).name, "GreenletExit");

  // one AsyncResult into another; unlink stops a target
  const a = new AsyncResult<string>();
  const b = new AsyncResult<string>();
  const c = new AsyncResult<string>();
  a.link(b);
  a.link(c);
  a.unlink(c);
  a.set("chained");
  assert.equal(await b.get(), "chained");
  assert.equal(c.ready(), false);
});

test("linkValue and linkException take link targets too", async () => {
  const onValue = new AsyncResult<number>();
  const onError = new AsyncResult<number>();
  const g = spawn(() => 3);
  g.linkValue(onValue);
  g.linkException(onError);
  await g.join();
  await sleep(0);
  assert.equal(onValue.value, 3);
  assert.equal(onError.ready(), false);
});

test.virtual("wait and iwait take Events and AsyncResults, in the order they became ready", async () => {
  const e = new Event();
  const r = new AsyncResult<number>();
  const never = new Event();
  spawn(async () => {
    await sleep(1);
    r.set(1);
    await sleep(1);
    e.set();
  });
  const ready = await wait([e, never, r], { count: 2 });
  assert.deepEqual(ready, [r, e]);
  assert.equal(getHub().now(), 2);
  assert.deepEqual(await wait([never], { timeout: 1 }), []);
  assert.equal(getHub().now(), 3);
});

test("run info names a greenlet waiting on an Event", async () => {
  const e = new Event();
  const g = spawn(async function waiter() {
    await e.wait();
  });
  await sleep(0);
  assert.match(
    formatRunInfo(),
    /"waiter" #\d+: waiter\(\)> waiting on Event\(clear\)/,
  );
  e.set();
  await g.join();
});
