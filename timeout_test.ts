import assert from "node:assert/strict";
import {
  getCurrent,
  getCurrentSignal,
  GreenletExit,
  Semaphore,
  shield,
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

test("concurrent flows outside greenlets: only the one in withTimeout times out", async () => {
  const log: string[] = [];
  const sem = new Semaphore(0);
  const releaser = spawn(async () => {
    await sleep(20);
    sem.release();
  });
  await Promise.all([
    (async () => {
      await sleep(30);
      log.push("a slept 30 ms");
    })(),
    withTimeout(10, () => sleep(1_000)).catch((e) =>
      log.push(`b ${(e as Error).name}`)
    ),
    (async () => {
      await sem.acquire();
      log.push("c acquired");
    })(),
  ]);
  await releaser.join();
  assert.deepEqual(log, ["b Timeout", "c acquired", "a slept 30 ms"]);
});

test("two withTimeouts in one greenlet never receive each other's Timeout", async () => {
  const log: string[] = [];
  await spawn(async () => {
    await Promise.all([
      withTimeout(10, () => sleep(1_000)).catch((e) =>
        log.push(`short: ${(e as Error).name}`)
      ),
      withTimeout(100, async () => {
        await sleep(20);
        log.push("long: done");
      }),
    ]);
  }).get();
  assert.deepEqual(log, ["short: Timeout", "long: done"]);
});

test("withTimeout settles at its deadline while fn sits in a raw await; fn is cancelled when it returns", async () => {
  const log: string[] = [];
  const raw = deferred();
  const flowEnded = deferred();
  const result = await withTimeout(10, async () => {
    try {
      await raw.promise; // an await the hub does not own
      log.push("raw returned");
      await sleep(0);
      log.push("slept?!");
    } catch (e) {
      log.push(`flow: ${(e as Error).name}`);
    } finally {
      log.push("finally");
      flowEnded.resolve();
    }
  }, { timeoutValue: "late" });
  log.push(`withTimeout: ${result}`);
  raw.resolve();
  await flowEnded.promise;
  assert.deepEqual(log, [
    "withTimeout: late",
    "raw returned",
    "flow: Timeout",
    "finally",
  ]);
});

test("withTimeout's Timeout is level-triggered inside it: a retry loop cannot outlive it", async () => {
  const log: string[] = [];
  await assert.rejects(
    withTimeout(10, async () => {
      for (let attempt = 0;; attempt++) {
        try {
          await sleep(1_000);
        } catch (e) {
          log.push(`attempt ${attempt}: ${(e as Error).name}`);
          await sleep(1); // the back-off throws too
        }
      }
    }),
    Timeout,
  );
  assert.deepEqual(log, ["attempt 0: Timeout"]);
});

test("a Timeout started inside withTimeout applies to that scope, once", async () => {
  const log: string[] = [];
  const outer = await withTimeout(1_000, async () => {
    const t = Timeout.startNew(5);
    try {
      await sleep(1_000);
    } catch (e) {
      log.push(`caught ${e === t ? "the Timeout" : e}`);
    }
    await sleep(1); // delivered once: waits work again
    log.push("went on");
    return "outer done";
  });
  assert.equal(outer, "outer done");
  assert.deepEqual(log, ["caught the Timeout", "went on"]);
});

test("shield: cleanup waits after a kill, bounded by its timeout; outside it the kill applies again", async () => {
  const log: string[] = [];
  const g = spawn(async function worker() {
    try {
      await sleep(10_000);
    } finally {
      await shield(async () => {
        await sleep(5);
        log.push("flushed");
      });
      try {
        await shield(() => sleep(1_000), { timeout: 5 });
      } catch (e) {
        log.push(`slow cleanup: ${(e as Error).name}`);
      }
      try {
        await sleep(0);
      } catch (e) {
        log.push(`after the shield: ${(e as Error).name}`);
      }
    }
  });
  await sleep(0);
  await g.kill();
  assert.deepEqual(log, [
    "flushed",
    "slow cleanup: Timeout",
    "after the shield: GreenletExit",
  ]);
  assert.ok(g.value instanceof GreenletExit);
});

test("getCurrentSignal: aborted by a kill and by the withTimeout deadline, only inside it", async () => {
  const log: string[] = [];
  let outerSignal!: AbortSignal;
  let innerSignal!: AbortSignal;
  const g = spawn(async () => {
    outerSignal = getCurrentSignal();
    assert.equal(outerSignal, getCurrent().signal);
    await withTimeout(5, () => {
      innerSignal = getCurrentSignal();
      return new Promise((resolve) =>
        innerSignal.addEventListener("abort", () => {
          log.push(`inner aborted: ${(innerSignal.reason as Error).name}`);
          resolve(undefined);
        })
      );
    }).catch((e) => log.push(`withTimeout: ${(e as Error).name}`));
    log.push(`outer aborted: ${outerSignal.aborted}`);
    // a one-shot Timeout does not abort the signal
    using _t = Timeout.startNew(1);
    await sleep(10).catch(() => log.push("one-shot Timeout"));
    log.push(`outer aborted: ${outerSignal.aborted}`);
    await sleep(10_000);
  });
  await sleep(20);
  await g.kill();
  log.push(`after kill: ${outerSignal.aborted}`);
  assert.deepEqual(log, [
    "inner aborted: Timeout",
    "withTimeout: Timeout",
    "outer aborted: false",
    "one-shot Timeout",
    "outer aborted: false",
    "after kill: true",
  ]);
});

test("bad shield arguments throw at once", () => {
  assert.throws(() => shield(5 as never), {
    name: "TypeError",
    message: "Cannot shield: fn must be a function, received 5",
  });
  assert.throws(() => shield(() => 1, { timeout: -1 }), {
    name: "RangeError",
    message: "Cannot shield: timeout must be ≥ 0, received -1",
  });
});
