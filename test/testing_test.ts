/**
 * Virtual time (`testing.ts`): the clock jumps to the next deadline once the
 * hub has settled, with real time's interleavings; every timed primitive
 * fires at its exact virtual instant; what the hub cannot see is a clear
 * error; the clock can be moved by hand.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AsyncResult,
  Event,
  getCurrent,
  getHub,
  GreenletExit,
  Hub,
  idle,
  joinAll,
  LoopExit,
  Queue,
  QueueEmpty,
  Semaphore,
  setSiteMode,
  shield,
  sleep,
  spawn,
  spawnLater,
  Timeout,
  wait,
  withTimeout,
} from "../mod.ts";
import { patchFetch, patchTimers, unpatchAll } from "../patch.ts";
import { errorsOf, type VirtualClock, withVirtualTime } from "../testing.ts";
import { capturingErrors, deferred, test } from "./test_adapter.ts";

/** Sleeps `ms`, then logs `name@instant` into `log`. */
async function nap(log: string[], name: string, ms: number): Promise<void> {
  await sleep(ms);
  log.push(at(name));
}

/** `label@ms`: what happened at which virtual instant. */
function at(label: string): string {
  return `${label}@${getHub().now()}`;
}

test("the tutorial's semaphore program: its exact order, 1,500 ms of virtual time", async () => {
  const log: string[] = [];
  let start = NaN;
  const end = await withVirtualTime(async () => {
    start = getHub().now();
    const sem = new Semaphore(1);
    const f = async (name: string, ms: number) => {
      for (let i = 0; i < 5; i++) {
        await sem.acquire();
        log.push(`${name} ${i}`);
        sem.release();
        await sleep(ms);
      }
    };
    await joinAll([spawn(f, "f1", 100), spawn(f, "f2", 300)]);
    return getHub().now();
  });
  assert.equal(
    log.join(", "),
    "f1 0, f2 0, f1 1, f1 2, f2 1, f1 3, f1 4, f2 2, f2 3, f2 4",
  );
  // f2 prints at 0, 300, 600, 900, 1200 and ends after its fifth sleep
  assert.equal(end - start, 1500);
});

test("an hour of sleep in 1,000 greenlets ends with the clock at exactly +1 h", async () => {
  const hour = 3_600_000;
  const woke: number[] = [];
  const now = await withVirtualTime(async (clock) => {
    assert.equal(clock.now, 0);
    const gs = Array.from(
      { length: 1000 },
      () =>
        spawn(async () => {
          await sleep(hour);
          woke.push(getHub().now());
        }),
    );
    await joinAll(gs);
    return clock.now;
  });
  assert.equal(now, hour);
  assert.equal(woke.length, 1000);
  assert.ok(woke.every((t) => t === hour));
});

test("inside the run, getHub(), getCurrent() and spawn use the virtual hub, also after awaits", async () => {
  const outer = getHub();
  const seen = await withVirtualTime(async (clock) => {
    const hub = getHub();
    assert.notEqual(hub, outer);
    assert.equal(getCurrent(), hub.main);
    assert.equal(String(getCurrent()), '<Greenlet "main" #0>');
    await sleep(10);
    assert.equal(getHub(), hub);
    await Promise.resolve(); // a raw await keeps the context too
    assert.equal(getHub(), hub);
    const g = spawn(() => getHub());
    assert.equal(g.hub, hub);
    assert.equal(await g.get(), hub);
    assert.equal(hub.now(), clock.now);
    return String(clock);
  });
  assert.equal(seen, "VirtualClock(10 ms, auto)");
  assert.equal(getHub(), outer);
});

test("timers with equal deadlines fire in arming order, whenever they were armed", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    const a = spawn(nap, log, "a", 300); // armed at 0 for 300
    const b = spawn(nap, log, "b", 300); // armed at 0 for 300, after a
    const c = spawnLater(100, nap, log, "c", 200); // armed at 100 for 300
    const d = spawn(nap, log, "d", 300); // armed at 0 for 300, after b
    await joinAll([a, b, c, d]);
    return log;
  });
  assert.deepEqual(log, ["a@300", "b@300", "d@300", "c@300"]);
});

test("timers of four durations armed together fire by deadline, whichever list comes first", async () => {
  // each duration is one list; the heap orders the lists by their first
  // timers: when the 10 ms one empties, the 30 ms one (not the 40 ms one,
  // nor the 50 ms one at the heap's end) must come up
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    await joinAll([
      spawn(nap, log, "a", 10),
      spawn(nap, log, "b", 50),
      spawn(nap, log, "c", 30),
      spawn(nap, log, "d", 40),
    ]);
    return log;
  });
  assert.deepEqual(log, ["a@10", "c@30", "d@40", "b@50"]);
});

test("equal deadlines in two lists: the earlier-armed timer first, even when its list is not the one on top", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    const y = spawn(nap, log, "y", 300); // armed at 0, due at 300
    const x1 = spawnLater(150, nap, log, "x1", 100); // due at 250
    const x2 = spawnLater(200, nap, log, "x2", 100); // due at 300, armed after y
    await joinAll([y, x1, x2]);
    return log;
  });
  assert.deepEqual(log, ["x1@250", "y@300", "x2@300"]);
});

test("Timeout, withTimeout and spawnLater fire at their exact virtual instants", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    const t = Timeout.startNew(250);
    try {
      await sleep(1000);
    } catch (e) {
      log.push(at(e === t ? "Timeout" : String(e)));
    }
    await assert.rejects(
      withTimeout(300, () => sleep(1000)),
      (e) => e instanceof Timeout && log.push(at("withTimeout")) > 0,
    );
    log.push(
      at(
        String(
          await withTimeout(40, () => sleep(1000), { timeoutValue: "value" }),
        ),
      ),
    );
    const g = spawnLater(500, () => log.push(at("spawnLater")));
    await g.join();
    return log;
  });
  assert.deepEqual(log, [
    "Timeout@250",
    "withTimeout@550",
    "value@590",
    "spawnLater@1090",
  ]);
});

test("queue, lock, event and result timeouts end at their exact virtual instants", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    const q = new Queue<number>();
    await assert.rejects(q.get({ timeout: 200 }), QueueEmpty);
    log.push(at("Queue.get"));
    const full = new Queue<number>(1);
    full.putNowait(1);
    await assert.rejects(full.put(2, { timeout: 50 }));
    log.push(at("Queue.put"));
    log.push(at(`acquire ${await new Semaphore(0).acquire({ timeout: 150 })}`));
    log.push(at(`Event.wait ${await new Event().wait(120)}`));
    await assert.rejects(new AsyncResult().get({ timeout: 80 }), Timeout);
    log.push(at("AsyncResult.get"));
    const sleeper = spawn(() => sleep(10_000));
    await sleeper.join(30);
    log.push(at(`join ${sleeper.dead}`));
    await sleeper.kill();
    return log;
  });
  assert.deepEqual(log, [
    "Queue.get@200",
    "Queue.put@250",
    "acquire false@400",
    "Event.wait false@520",
    "AsyncResult.get@600",
    "join false@630",
  ]);
});

test("level-triggered scopes: a withTimeout deadline and a kill land at their instant, and stay", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    await withTimeout(100, async () => {
      try {
        await sleep(1000);
      } catch {
        log.push(at("deadline"));
      }
      try {
        await sleep(1); // the scope stays cancelled: throws at once
      } catch {
        log.push(at("still cancelled"));
      }
    }, { timeoutValue: null });
    const victim = spawn(async () => {
      try {
        await sleep(1000);
      } catch {
        log.push(at("killed"));
      }
      try {
        await sleep(1);
      } catch {
        log.push(at("still killed"));
      }
    });
    spawnLater(250, () => victim.kill());
    await victim.join();
    // it caught the kill and returned: gevent's success, its value stands
    log.push(
      at(`returned ${victim.successful() && victim.value === undefined}`),
    );
    return log;
  });
  assert.deepEqual(log, [
    "deadline@100",
    "still cancelled@100",
    "killed@350",
    "still killed@350",
    "returned true@350",
  ]);
});

test("patched timers follow the virtual clock while patching is on", async () => {
  patchTimers();
  try {
    const log = await withVirtualTime(async () => {
      const log: string[] = [];
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          log.push(at("setTimeout"));
          resolve();
        }, 60_000)
      );
      let n = 0;
      const done = new AsyncResult<void>();
      const id = setInterval(() => {
        log.push(at(`tick ${++n}`));
        if (n === 3) {
          clearInterval(id);
          done.set();
        }
      }, 1000);
      await done.get();
      return log;
    });
    assert.deepEqual(log, [
      "setTimeout@60000",
      "tick 1@61000",
      "tick 2@62000",
      "tick 3@63000",
    ]);
  } finally {
    unpatchAll();
  }
});

test("a raw promise settled by the hub's own activity is fine: the clock still moves", async () => {
  const now = await withVirtualTime(async () => {
    const g = spawn(() => sleep(500));
    await new Promise((resolve) => g.link(resolve));
    return getHub().now();
  });
  assert.equal(now, 500);
});

test("an await the hub cannot see, with nothing left to wait for, rejects with LoopExit naming it", async () => {
  await assert.rejects(
    withVirtualTime(async () => {
      await sleep(100);
      await new Promise(() => {}); // never settles; the hub cannot see it
    }),
    (e: unknown) => {
      assert.ok(e instanceof LoopExit);
      assert.equal(
        e.message,
        "This operation would block forever: nothing is left that could wake this greenlet:\n" +
          '  <Greenlet "main" #0> is waiting on an await the hub cannot see (a raw promise, unpatched I/O, a native timer); ' +
          "virtual time does not wait for it: use a hub-aware wait or patch the I/O (patch.ts)",
      );
      assert.equal(e.blocked.length, 1);
      return true;
    },
  );
});

test("a greenlet in an unseen await is named, and the LoopExit reaches fn's own wait", async () => {
  // no call sites in the message (their own test is hub_test's)
  const previous = setSiteMode("off");
  const caught = await withVirtualTime(async () => {
    const stuck = spawn(async function stuck() {
      await new Promise(() => {});
    });
    const blocked = spawn(async function blocked() {
      await new Semaphore(0).acquire();
    });
    try {
      await joinAll([stuck, blocked]);
      return "joined?!";
    } catch (e) {
      // fn may catch it; what it left alive is killed when it returns
      return e instanceof LoopExit ? e.message : String(e);
    }
  }).finally(() => setSiteMode(previous));
  assert.equal(
    caught,
    "This operation would block forever: nothing is left that could wake these greenlets:\n" +
      '  <Greenlet "main" #0> is waiting on joinAll of 2 greenlets (0 done)\n' +
      '  <Greenlet "stuck" #1: stuck()> is waiting on an await the hub cannot see (a raw promise, unpatched I/O, a native timer); ' +
      "virtual time does not wait for it: use a hub-aware wait or patch the I/O (patch.ts)\n" +
      '  <Greenlet "blocked" #2: blocked()> is waiting on Semaphore(counter=0, waiters=1)',
  );
});

test("while a tracked operation is pending the clock keeps real pace: a fetch answered in 20 ms ends before a 1 s sleep; a 30 ms withTimeout around one never answered fires", async () => {
  const server = createServer((req, res) => {
    // real time, outside the run; /never is never answered
    if (req.url === "/slow") globalThis.setTimeout(() => res.end("pong"), 20);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  patchFetch();
  try {
    const log = await withVirtualTime(async () => {
      const log: string[] = [];
      spawn(async () => {
        await sleep(1000);
        log.push(at("slept"));
      });
      const res = await fetch(`${url}/slow`);
      log.push(at(await res.text()));
      await assert.rejects(
        withTimeout(30, () => fetch(`${url}/never`)),
        Timeout,
      );
      log.push(at("timed out"));
      await sleep(1000);
      // left behind in a request never answered: killed when fn returns,
      // the request aborted (a pending fetch does not hold the end)
      spawn(() => fetch(`${url}/never`));
      await sleep(0);
      return log;
    });
    assert.deepEqual(log, ["pong@0", "timed out@30", "slept@1000"]);
  } finally {
    unpatchAll();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("by hand: tick(ms) fires what is due at each instant; runAll() runs every timer", async () => {
  await withVirtualTime(async (clock) => {
    assert.equal(clock.auto, false);
    const log: string[] = [];
    for (const ms of [30, 10, 20, 10]) {
      spawn(async () => {
        await sleep(ms);
        log.push(at(`${ms}`));
        await sleep(100);
        log.push(at(`${ms} again`));
      });
    }
    await sleep(0); // they start and arm their sleeps
    await clock.tick(15);
    assert.equal(clock.now, 15);
    assert.deepEqual(log, ["10@10", "10@10"]);
    await clock.tick(15);
    assert.deepEqual(log, ["10@10", "10@10", "20@20", "30@30"]);
    await clock.runAll();
    assert.equal(clock.now, 130);
    assert.deepEqual(log.slice(4), [
      "10 again@110",
      "10 again@110",
      "20 again@120",
      "30 again@130",
    ]);
    await clock.tick(0);
    assert.equal(clock.now, 130);
    await clock.runAll(); // nothing armed: at once
    assert.equal(clock.now, 130);
  }, { auto: false });
});

test("by hand: the clock stays put until told, and a tick waits for the woken greenlets to settle", async () => {
  await withVirtualTime(async (clock) => {
    const ev = new Event();
    const log: string[] = [];
    spawn(async () => {
      await sleep(50);
      ev.set();
    });
    spawn(async () => {
      await ev.wait();
      log.push(at("event"));
      await sleep(0);
      log.push(at("after a switch"));
    });
    await idle();
    assert.equal(clock.now, 0);
    await clock.tick(50);
    assert.deepEqual(log, ["event@50", "after a switch@50"]);
  }, { auto: false });
});

test("tick and runAll are refused on an automatic clock, while another runs, and after the run", async () => {
  await withVirtualTime((clock) => {
    assert.throws(() => clock.tick(1), {
      name: "TypeError",
      message:
        'Cannot tick VirtualClock: this clock advances by itself; pass { auto: false } to withVirtualTime to advance it by hand, received {"auto":true}',
    });
    assert.throws(() => clock.runAll(), {
      name: "TypeError",
      message:
        'Cannot run all timers: this clock advances by itself; pass { auto: false } to withVirtualTime to advance it by hand, received {"auto":true}',
    });
  });
  let kept: VirtualClock | undefined;
  await withVirtualTime(async (clock) => {
    kept = clock;
    spawn(() => sleep(10));
    const first = clock.tick(100);
    await assert.rejects(clock.runAll(), {
      message:
        "Cannot run all timers: a tick() or runAll() is still running; await it first, received the clock at 0 ms",
    });
    await first;
    assert.equal(clock.now, 100);
  }, { auto: false });
  await assert.rejects(kept!.tick(1), {
    message:
      "Cannot tick VirtualClock: its withVirtualTime has settled and the clock has stopped, received the clock at 100 ms",
  });
});

test("runAll gives up on an endless interval", async () => {
  await withVirtualTime(async (clock) => {
    const g = spawn(async () => {
      for (;;) await sleep(1);
    });
    await assert.rejects(clock.runAll(), {
      name: "RangeError",
      message:
        "Cannot run all timers: timers are still armed after 10000 instants (an endless interval, or a greenlet that sleeps in a loop?); use tick(ms), received 1 armed at 10000 ms",
    });
    await g.kill();
  }, { auto: false });
});

test("fn's result and error come back; greenlets it left alive are killed, their cleanup in virtual time", async () => {
  assert.equal(await withVirtualTime(() => 42), 42);
  await assert.rejects(
    withVirtualTime(() => {
      throw new Error("sync");
    }),
    { message: "sync" },
  );
  const log: string[] = [];
  await assert.rejects(
    withVirtualTime(async () => {
      spawn(async () => {
        try {
          await sleep(1_000_000);
        } finally {
          await shield(async () => {
            await sleep(20);
            log.push(at("cleaned up"));
          });
        }
      });
      await sleep(5);
      throw new Error("async");
    }),
    { message: "async" },
  );
  assert.deepEqual(log, ["cleaned up@25"]);
});

test("a kill of the caller cancels fn's waits and rejects at once", async () => {
  const log: string[] = [];
  const inside = deferred();
  const g = spawn(() =>
    withVirtualTime(async () => {
      try {
        inside.resolve();
        await new Event().wait(); // woken only by the cancel
      } catch (e) {
        log.push(`fn got ${(e as Error).name}`);
        throw e;
      }
    })
  );
  await inside.promise;
  await g.kill();
  assert.ok(g.value instanceof GreenletExit);
  await sleep(0);
  assert.deepEqual(log, ["fn got GreenletExit"]);
});

test("runs nest: the outer clock waits for the inner run, a tracked operation", async () => {
  const log = await withVirtualTime(async () => {
    const log: string[] = [];
    // (the outer clock keeps real pace while the inner run is pending: its
    // sleep is long enough for a loaded machine)
    spawn(async () => {
      await sleep(10_000);
      log.push(at("outer slept"));
    });
    log.push(
      `inner ended@${await withVirtualTime(async () => {
        await sleep(1000);
        return getHub().now();
      })}`,
    );
    log.push(at("outer"));
    await sleep(10_000);
    return log;
  });
  assert.deepEqual(log, ["inner ended@1000", "outer@0", "outer slept@10000"]);
});

test("wait() and idle() work in virtual time", async () => {
  const now = await withVirtualTime(async () => {
    spawn(() => sleep(300));
    spawn(() => sleep(100));
    await idle();
    assert.equal(getHub().now(), 0);
    assert.equal(await wait(), true); // every greenlet done
    return getHub().now();
  });
  assert.equal(now, 300);
});

test("errors of greenlets on the virtual hub reach its handleError", async () => {
  await withVirtualTime(() =>
    capturingErrors(async (errors) => {
      const g = spawnLater(100, function boom() {
        throw new Error("late");
      });
      await g.join();
      assert.deepEqual(errors, ["boom: Error: late"]);
    })
  );
});

test("withVirtualTime checks its arguments", () => {
  assert.throws(() => withVirtualTime(42 as never), {
    name: "TypeError",
    message: "Cannot run withVirtualTime: fn must be a function, received 42",
  });
  assert.throws(() => withVirtualTime(() => 1, { auto: 1 as never }), {
    name: "TypeError",
    message: "Cannot run withVirtualTime: auto must be a boolean, received 1",
  });
  assert.throws(() => withVirtualTime(() => 1, { aut: false } as never), {
    name: "TypeError",
    message:
      'Cannot run withVirtualTime: unknown option "aut" (accepted: auto, strict)',
  });
});

test("tick checks its argument", async () => {
  await withVirtualTime((clock) => {
    for (
      const [ms, name, message] of [
        ["1", "TypeError", 'ms must be a number of milliseconds, received "1"'],
        [
          undefined,
          "TypeError",
          "ms must be a number of milliseconds, received undefined",
        ],
        [-1, "RangeError", "ms must be ≥ 0, received -1"],
        [
          Infinity,
          "RangeError",
          "ms must be finite (runAll() runs every timer), received Infinity",
        ],
      ] as const
    ) {
      assert.throws(() => clock.tick(ms as never), {
        name,
        message: `Cannot tick VirtualClock: ${message}`,
      });
    }
  }, { auto: false });
});

// ---- strict virtual time ----

test("strict (the default): a background greenlet that fails and that nothing joined fails the run with its error", async () => {
  const log: string[] = [];
  const boom = new Error("disk full");
  await assert.rejects(
    withVirtualTime(async () => {
      spawn(async function writer() {
        await sleep(100);
        log.push(`writer fails at ${getHub().now()}`);
        throw boom;
      });
      await sleep(500);
      log.push(`fn returns at ${getHub().now()}`);
      return "fn's value, dropped";
    }),
    (e) => e === boom,
  );
  assert.deepEqual(log, ["writer fails at 100", "fn returns at 500"]);
});

test("strict: a failure joined before or after it happened does not fail the run; it is reported as always", async () => {
  const reported: string[] = [];
  const proto = Hub.prototype;
  const recorder = proto.handleError;
  proto.handleError = (g, e) => void reported.push(`${g.name}: ${e}`);
  try {
    const r = await withVirtualTime(async () => {
      const early = spawn(async function early() {
        await sleep(10);
        throw new Error("joined while running");
      });
      const late = spawn(async function late() {
        await sleep(20);
        throw new Error("joined once dead");
      });
      await early.join();
      await sleep(50);
      await late.get().catch(() => {});
      return [String(early.exception), String(late.exception)];
    });
    assert.deepEqual(r, [
      "Error: joined while running",
      "Error: joined once dead",
    ]);
  } finally {
    proto.handleError = recorder;
  }
  // the joined-while-running one at once, the joined-later one at the end
  assert.deepEqual(reported, [
    "early: Error: joined while running",
    "late: Error: joined once dead",
  ]);
});

test("strict: failures the test declares with capturingErrors do not fail the run; { strict: false } only reports them", async () => {
  const errors = await withVirtualTime(() =>
    errorsOf(async () => {
      spawn(function parse() {
        throw new SyntaxError("bad row");
      });
      await sleep(1);
    })
  );
  assert.deepEqual(errors, ["parse: SyntaxError: bad row"]);
  const reported: string[] = [];
  const proto = Hub.prototype;
  const recorder = proto.handleError;
  proto.handleError = (g, e) => void reported.push(`${g.name}: ${e}`);
  try {
    assert.equal(
      await withVirtualTime(async () => {
        spawn(function parse() {
          throw new SyntaxError("bad row");
        });
        await sleep(1);
        return "passes";
      }, { strict: false }),
      "passes",
    );
  } finally {
    proto.handleError = recorder;
  }
  assert.deepEqual(reported, ["parse: SyntaxError: bad row"]);
  assert.throws(
    () => withVirtualTime(() => 1, { strict: "yes" as never }),
    /^TypeError: Cannot run withVirtualTime: strict must be a boolean, received "yes"$/,
  );
});

test("strict: when fn itself fails, its error stands and an unjoined failure is reported", async () => {
  const reported: string[] = [];
  const proto = Hub.prototype;
  const recorder = proto.handleError;
  proto.handleError = (g, e) => void reported.push(`${g.name}: ${e}`);
  try {
    await assert.rejects(
      withVirtualTime(async () => {
        spawn(function helper() {
          throw new Error("helper broke");
        });
        await sleep(1);
        throw new Error("the assertion that failed");
      }),
      /^Error: the assertion that failed$/,
    );
  } finally {
    proto.handleError = recorder;
  }
  assert.deepEqual(reported, ["helper: Error: helper broke"]);
});

// ---- what a virtual-time LoopExit says ----

test("LoopExit under virtual time: a waiter on a greenlet of the real hub — which hub each waiter is on", async () => {
  const previous = setSiteMode("off");
  const gate = new Event();
  const fixture = spawn(async function fixture() {
    await gate.wait(); // on the real hub: made outside withVirtualTime
  });
  try {
    const message = await withVirtualTime(async () => {
      await fixture.join();
      return "joined?!";
    }).catch((e) => e instanceof LoopExit ? e.message : String(e));
    assert.equal(
      message.replace(/#\d+/g, "#N"),
      "This operation would block forever: nothing is left that could wake this greenlet:\n" +
        '  <Greenlet "main" #N> is waiting on join of <Greenlet "fixture" #N: fixture()>\n' +
        "The greenlets above are on this withVirtualTime's virtual hub.\n" +
        "Greenlets waiting on the real hub (the caller's: its clock is real), which this run does not wait for (made outside withVirtualTime's fn?):\n" +
        '  <Greenlet "fixture" #N: fixture()> is waiting on Event(clear)',
    );
  } finally {
    setSiteMode(previous);
    gate.set();
    await fixture.join();
  }
});

test("LoopExit under virtual time: names the timers armed on the real clock", async () => {
  const previous = setSiteMode("off");
  const q = new Queue<string>();
  const feeder = spawn(async function feeder() {
    await sleep(600_000); // a real sleep: virtual time does not move it
    q.put("item");
  });
  try {
    const message = await withVirtualTime(() => q.get())
      .catch((e) => e instanceof LoopExit ? e.message : String(e));
    const lines = message.replace(/#\d+/g, "#N").split("\n");
    assert.deepEqual(lines.slice(0, 5), [
      "This operation would block forever: nothing is left that could wake this greenlet:",
      '  <Greenlet "main" #N> is waiting on get from Queue(items=0, getters=1)',
      "The greenlets above are on this withVirtualTime's virtual hub.",
      "Greenlets waiting on the real hub (the caller's: its clock is real), which this run does not wait for (made outside withVirtualTime's fn?):",
      '  <Greenlet "feeder" #N: feeder()> is waiting on sleep (10.0 min left)',
    ]);
    assert.match(
      lines[5],
      /^\d+ timers? (is|are) armed on the real clock \(the next: 10\.0 min left\): virtual time neither waits for nor moves them; build fixtures \(greenlets, Timeouts, sleeps\) inside withVirtualTime's fn$/,
    );
    assert.equal(lines.length, 6);
  } finally {
    setSiteMode(previous);
    await feeder.kill();
  }
});

test("LoopExit under virtual time: names a native timer armed through the unpatched globals while fn ran", async () => {
  const globals = [setTimeout, setInterval, clearTimeout, clearInterval];
  const message = await withVirtualTime(async () => {
    const ready = new Event();
    const h = setInterval(() => ready.set(), 100);
    try {
      await ready.wait();
      return "set?!";
    } finally {
      clearInterval(h);
    }
  }).catch((e) => e instanceof LoopExit ? e.message : String(e));
  const lines = message.split("\n");
  assert.equal(lines.length, 4, message);
  assert.match(
    lines[1],
    /^ {2}<Greenlet "main" #0> is waiting on Event\(clear\)/,
  );
  assert.equal(
    lines[2],
    "The greenlets above are on this withVirtualTime's virtual hub.",
  );
  assert.match(
    lines[3],
    /^A native setInterval\(100 ms\) is armed through the unpatched global at \S*testing_test\.\w+:\d+:\d+: virtual time does not see it; use sleep\(\) or patchTimers\(\) \(patch\.ts\)$/,
  );
  // the globals are what they were once the run ended
  assert.deepEqual(
    [setTimeout, setInterval, clearTimeout, clearInterval],
    globals,
  );
});

test("virtual time goes on when the greenlet resumed last is found away with nothing queued", async () => {
  await withVirtualTime(async () => {
    const log: string[] = [];
    const d = deferred<void>();
    spawn(async () => {
      await sleep(10);
      log.push("timer");
      d.resolve();
    });
    const g = spawn(async () => {
      await sleep(0);
      log.push("g ends");
    });
    await g.join();
    log.push("main away");
    await d.promise; // raw: main is away until the greenlet above resolves it
    log.push("main back");
    assert.deepEqual(log, ["g ends", "main away", "timer", "main back"]);
  });
});
