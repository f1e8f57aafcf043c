import assert from "node:assert/strict";
import {
  getCurrent,
  Semaphore,
  sleep,
  spawn,
  Timeout,
  withTimeout,
} from "./mod.ts";
import { deferred, test } from "./test_adapter.ts";

test("a Timeout fires at the switch point of the greenlet that started it", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    const t = Timeout.startNew(5);
    try {
      await sleep(10_000);
      log.push("slept?!");
    } catch (e) {
      log.push(e === t ? "caught own Timeout" : `caught ${e}`);
    } finally {
      t.cancel();
    }
  });
  await g.join();
  assert.deepEqual(log, ["caught own Timeout"]);
});

test("`using` bounds a block and cancels the timer on the way out", async () => {
  const log: string[] = [];
  {
    using t = Timeout.startNew(1_000);
    await sleep(1);
    log.push(`pending inside: ${t.pending}`);
  }
  try {
    using _t = Timeout.startNew(5);
    await new Semaphore(0).acquire();
  } catch (e) {
    log.push(`${(e as Error).name}: ${(e as Error).message}`);
  }
  assert.deepEqual(log, ["pending inside: true", "Timeout: 5 ms"]);
});

test("a Timeout with a custom error throws that error", async () => {
  const error = new Error("custom");
  await assert.rejects(async () => {
    using _t = Timeout.startNew(1, error);
    await sleep(1_000);
  }, (e) => e === error);
});

test("a Timeout does not abort greenlet.signal; the greenlet may go on", async () => {
  const g = spawn(async () => {
    try {
      using _t = Timeout.startNew(1);
      await sleep(1_000);
    } catch (e) {
      if (!(e instanceof Timeout)) throw e;
    }
    const aborted = getCurrent().signal.aborted;
    await sleep(1);
    return `survived, signal aborted: ${aborted}`;
  });
  assert.equal(await g.get(), "survived, signal aborted: false");
});

test("a Timeout that fired while awaiting something else is delivered at the next switch point", async () => {
  const gate = deferred();
  const log: string[] = [];
  const g = spawn(async () => {
    const t = Timeout.startNew(1);
    await gate.promise; // not owned by the hub: the Timeout waits for a switch
    log.push("gate opened");
    try {
      await sleep(0);
      log.push("no Timeout?!");
    } catch (e) {
      log.push(e === t ? "Timeout at sleep(0)" : `other ${e}`);
    }
  });
  setTimeout(gate.resolve, 10);
  await g.join();
  assert.deepEqual(log, ["gate opened", "Timeout at sleep(0)"]);
});

test("cancelling a Timeout withdraws an error that fired but was not delivered", async () => {
  const gate = deferred();
  const g = spawn(async () => {
    const t = Timeout.startNew(1);
    await gate.promise;
    t.cancel(); // fired meanwhile, never delivered: withdrawn
    await sleep(0);
    return `pending=${t.pending}`;
  });
  setTimeout(gate.resolve, 10);
  assert.equal(await g.get(), "pending=false");
});

test("pending, start twice, and a Timeout that never fires", async () => {
  const t = new Timeout(50);
  assert.equal(t.pending, false);
  t.start();
  assert.equal(t.pending, true);
  assert.throws(() => t.start(), /Cannot start Timeout: it is already pending/);
  t.cancel();
  assert.equal(t.pending, false);
  const never = Timeout.startNew(undefined);
  assert.equal(never.pending, false);
  await sleep(1);
  never.cancel();
});

test("withTimeout: value, Timeout rejection, timeoutValue, args", async () => {
  assert.equal(
    await withTimeout(50, (a: number) => Promise.resolve(a * 2), 21),
    42,
  );
  await assert.rejects(
    withTimeout(1, () => sleep(1_000)),
    (e) => e instanceof Timeout && e.ms === 1,
  );
  assert.equal(
    await withTimeout(1, () => sleep(1_000), { timeoutValue: "late" }),
    "late",
  );
  // an error thrown by fn passes through
  await assert.rejects(
    withTimeout(50, () => {
      throw new Error("inner");
    }),
    { message: "inner" },
  );
});

test("bad arguments throw at once, naming the argument and value", () => {
  assert.throws(() => new Timeout(-5), {
    name: "RangeError",
    message: "Cannot create Timeout: ms must be ≥ 0, received -5",
  });
  assert.throws(() => Timeout.startNew(NaN), {
    name: "TypeError",
    message:
      "Cannot create Timeout: ms must be a number of milliseconds or undefined, received NaN",
  });
  assert.throws(() => withTimeout(-1, () => {}), {
    name: "RangeError",
    message: "Cannot run withTimeout: ms must be ≥ 0, received -1",
  });
  assert.throws(() => withTimeout(1, 5 as never), {
    name: "TypeError",
    message: "Cannot run withTimeout: fn must be a function, received 5",
  });
  assert.throws(() => withTimeout(1, "later" as never), {
    name: "TypeError",
    message: 'Cannot run withTimeout: fn must be a function, received "later"',
  });
});
