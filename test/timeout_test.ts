import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import {
  formatRunInfo,
  getCurrent,
  getCurrentSignal,
  getHub,
  type Greenlet,
  GreenletExit,
  joinAll,
  Semaphore,
  shield,
  sleep,
  spawn,
  spawnLater,
  startMonitor,
  startTrace,
  stopMonitor,
  stopTrace,
  Timeout,
  withTimeout,
} from "../mod.ts";
import {
  deferred,
  inVirtualTime,
  killedWhileAway,
  test,
} from "./test_adapter.ts";
import fc from "fast-check";
import process from "node:process";

test.virtual("a Timeout fires at the switch point of the greenlet that started it", async () => {
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
  assert.equal(getHub().now(), 5);
});

test.virtual("`using` bounds a block and cancels the timer on the way out", async () => {
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

test.virtual("a Timeout that fired while awaiting something else is delivered at the next switch point", async () => {
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
    // delivered once: the next waits go on
    await sleep(0);
    await sleep(1);
    log.push("next waits ran");
  });
  spawnLater(10, gate.resolve); // after the Timeout fired
  await g.join();
  assert.deepEqual(log, [
    "gate opened",
    "Timeout at sleep(0)",
    "next waits ran",
  ]);
});

test.virtual("cancelling a Timeout withdraws an error that fired but was not delivered", async () => {
  const gate = deferred();
  const g = spawn(async () => {
    const t = Timeout.startNew(1);
    await gate.promise;
    t.cancel(); // fired meanwhile, never delivered: withdrawn
    await sleep(0);
    return `pending=${t.pending}`;
  });
  spawnLater(10, gate.resolve); // after the Timeout fired
  assert.equal(await g.get(), "pending=false");
});

test.virtual("a kill landing while a fired Timeout is undelivered wins: a catch that tolerates Timeout cannot swallow it", async () => {
  const gate = deferred();
  const log: string[] = [];
  const g = spawn(async () => {
    Timeout.startNew(1);
    await gate.promise; // the Timeout fires here, undelivered; then the kill
    for (let i = 0; i < 3; i++) {
      try {
        await sleep(0);
        log.push("slept");
      } catch (e) {
        log.push(e instanceof Timeout ? "Timeout" : (e as Error).name);
        if (!(e instanceof Timeout)) throw e;
      }
    }
    log.push("loop ended?!");
  });
  await sleep(10); // the Timeout has fired
  g.kill(undefined, { block: false });
  gate.resolve();
  await g.join();
  assert.deepEqual(log, ["GreenletExit"]);
  assert.ok(g.value instanceof GreenletExit);
});

test.virtual("an inner Timeout (get with a timeout) inside withTimeout is the inner one's, not the scope's", async () => {
  const slow = spawn(() => sleep(1000));
  const r = await withTimeout(500, async () => {
    try {
      await slow.get({ timeout: 5 });
      return "got?!";
    } catch (e) {
      return e instanceof Timeout ? `inner Timeout(${e.ms})` : `other ${e}`;
    }
  });
  assert.equal(r, "inner Timeout(5)");
  await slow.kill();
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

test.virtual("withTimeout: value, Timeout rejection, timeoutValue, args", async () => {
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

test.virtual("concurrent flows outside greenlets: only the one in withTimeout times out", async () => {
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
  assert.equal(getHub().now(), 30);
});

test.virtual("two withTimeouts in one greenlet never receive each other's Timeout", async () => {
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
  assert.equal(getHub().now(), 20);
});

test.virtual("withTimeout settles at its deadline while fn sits in a raw await; fn is cancelled when it returns", async () => {
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

test.virtual("a body away at the deadline is detached: run info and the trace show it, with the site of its withTimeout, until it ends", async () => {
  startMonitor({ maxBlockingTime: 1_000_000, report: () => {} }); // spawn sites on
  startTrace();
  const raw = deferred();
  const log: string[] = [];
  let info = "";
  const g = spawn(async function caller() {
    const v = await withTimeout(10, async () => {
      await raw.promise; // away at the deadline
      await sleep(1).catch((e) => log.push(`body: ${(e as Error).name}`));
    }, { timeoutValue: "late" }); // the line run info names
    log.push(`${v}@${getHub().now()}`);
    info = formatRunInfo();
    raw.resolve();
    await sleep(5);
    log.push(`after@${getHub().now()}`);
  });
  await g.join();
  const events = stopTrace();
  stopMonitor();
  assert.deepEqual(log, ["late@10", "body: Timeout", "after@15"]);
  assert.match(
    info,
    /<Greenlet "caller" #\d+: caller\(\)> running; a withTimeout\(10 ms\) body detached at its deadline is away in an await the hub does not own \(withTimeout at \S*timeout_test\.\w+:\d+:\d+\)/,
  );
  assert.doesNotMatch(formatRunInfo(), /detached/); // its body ended
  const detached = events.filter((e) => e.cat === "detach");
  assert.deepEqual(
    detached.map((
      e,
    ) => [e.name, e.ts, String(e.args?.site).includes("timeout_test.")]),
    [["withTimeout(10 ms) detached", 10_000, true]],
  );
});

test.virtual("withTimeout's Timeout is level-triggered inside it: a retry loop cannot outlive it", async () => {
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

test.virtual("a Timeout started inside withTimeout applies to that scope, once", async () => {
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

test.virtual("shield: cleanup waits after a kill, bounded by its timeout; outside it the kill applies again", async () => {
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

test.virtual("getCurrentSignal: aborted by a kill and by the withTimeout deadline, only inside it", async () => {
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
  assert.equal(getHub().now(), 20);
  assert.deepEqual(log, [
    "inner aborted: Timeout",
    // the body returned (completion wins): withTimeout returns its value
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

// ---------------------------------------------------------------------------
// Property: random nested withTimeout / Timeout / catch-all scripts, with
// kills and get()s between greenlets, in virtual time (testing.ts: deadlines
// coincide, and "not before the deadline" is checked exactly).

type TStep =
  | { k: "sleep"; ms: number }
  | { k: "scope"; ms: number; value: boolean; body: TStep[] }
  | { k: "oneshot"; ms: number; body: TStep[] }
  | { k: "swallow"; body: TStep[] }
  | { k: "kill"; target: number }
  | { k: "get"; target: number };

const tstepArb: fc.Arbitrary<TStep[]> = fc.letrec<{ steps: TStep[] }>(
  (tie) => ({
    steps: fc.array(
      fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.record({
          k: fc.constant("sleep" as const),
          ms: fc.constantFrom(0, 1, 2, 3),
        }),
        fc.record({
          k: fc.constant("kill" as const),
          target: fc.nat(4),
        }),
        fc.record({ k: fc.constant("get" as const), target: fc.nat(4) }),
        fc.record({
          k: fc.constant("scope" as const),
          ms: fc.constantFrom(0, 1, 2, 3),
          value: fc.boolean(),
          body: tie("steps"),
        }),
        fc.record({
          k: fc.constant("oneshot" as const),
          ms: fc.constantFrom(0, 1, 2),
          body: tie("steps"),
        }),
        fc.record({ k: fc.constant("swallow" as const), body: tie("steps") }),
      ),
      { maxLength: 3 },
    ),
  }),
).steps;

/** The error a one-shot `Timeout.startNew(ms, error)` throws: it names its owner. */
class OneShot extends Error {
  constructor(readonly owner: number, readonly deadline: number) {
    super(`one-shot of #${owner}`);
  }
}

interface Frame {
  ms: number;
  deadline: number;
  /** `getCurrentSignal()` inside it: aborted once it is cancelled. */
  signal: AbortSignal | null;
}

/**
 * The model, checked at every wait and at the end:
 * - an error thrown into a wait is this greenlet's kill (only after a kill
 *   was sent to it), the `Timeout` of one of its own open `withTimeout`
 *   frames whose deadline has come, or its own one-shot error after that
 *   one's deadline — never another flow's, never early;
 * - level-triggered: a kill or `withTimeout` Timeout caught by a catch-all
 *   is thrown again at the next wait inside the same frames; a wait never
 *   completes after this greenlet was sent a kill;
 * - a `withTimeout` gives its `timeoutValue` only at or after its deadline;
 * - `get()` resolves with the target's value or rejects with its
 *   exception, or is interrupted by one of the above;
 * - every greenlet ends once; one sent a kill while alive ends killed (the
 *   kill is never lost, even to catch-alls); handleError gets each failure
 *   once, and failures are only escaped Timeouts and one-shots.
 * Bugs injected in a scratch copy, and what caught them: `interruption()`
 * taking a level-triggered stop after one delivery (`if (take)` without
 * `!p.level`) — "swallowed cancellation re-raised" (seed 2048687377); the
 * withTimeout deadline armed 1 ms short — "Timeout(3) of no expired frame"
 * (seed -1655279238); the deadline cancelling the caller's scope instead of
 * the withTimeout's own — "re-raise: Timeout(0) of no expired frame" (seed
 * 1186822474). Runs: 3 × `PROPERTY_RUNS` (default 60), each short.
 */
test("property: withTimeout, Timeout and kills land level-triggered, on time, in their own flow", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(tstepArb, { minLength: 1, maxLength: 4 }),
      inVirtualTime(async (scripts) => {
        const hub = getHub();
        const problems: string[] = [];
        const errors: Greenlet[] = [];
        hub.handleError = (g) => void errors.push(g);
        const gs: Greenlet[] = [];
        const killedAlive = new Set<Greenlet>();
        const killSent = new Set<Greenlet>();
        // greenlets that reached a switch point after a kill was sent them
        const waitedAfterKill = new Set<Greenlet>();
        const ends = new Map<Greenlet, number>();
        const checked = new WeakSet<object>();

        const checkThrown = (
          me: Greenlet,
          frames: Frame[],
          e: unknown,
          where: string,
        ) => {
          const now = hub.now();
          if (e instanceof GreenletExit) {
            if (!killSent.has(me)) problems.push(`${where}: kill never sent`);
          } else if (e instanceof OneShot) {
            if (e.owner !== me.id) {
              problems.push(`${where}: another's one-shot`);
            }
            if (now < e.deadline) problems.push(`${where}: one-shot early`);
          } else if (e instanceof Timeout) {
            // its frame: the one whose signal it aborted (else, when a kill
            // aborted that signal first, one of the same ms that expired)
            const mine = frames.some((f) =>
              f.signal?.reason === e && f.deadline <= now
            ) || frames.some((f) => f.ms === e.ms && f.deadline <= now);
            if (!mine) {
              problems.push(`${where}: Timeout(${e.ms}) of no expired frame`);
            }
          } else {
            problems.push(`${where}: unexpected ${e}`);
          }
        };

        const wait = async (
          me: Greenlet,
          frames: Frame[],
          where: string,
          op: () => Promise<unknown>,
          passes: (e: unknown) => boolean = () => false,
        ): Promise<unknown> => {
          const cancelled = killSent.has(me) ||
            frames.some((f) => f.signal?.aborted);
          if (killSent.has(me)) waitedAfterKill.add(me);
          try {
            const v = await op();
            if (cancelled) {
              problems.push(
                `${where}: completed when cancelled`,
              );
            }
            return v;
          } catch (e) {
            // an error checked at an inner wait may pass through this one
            if (!checked.has(e as object) && !passes(e)) {
              checkThrown(me, frames, e, where);
            }
            if (typeof e === "object" && e !== null) checked.add(e);
            throw e;
          }
        };

        const run = async (
          me: Greenlet,
          steps: TStep[],
          frames: Frame[],
        ): Promise<void> => {
          for (const step of steps) {
            switch (step.k) {
              case "sleep":
                await wait(me, frames, "sleep", () => sleep(step.ms));
                break;
              case "kill": {
                const target = gs[step.target % gs.length];
                if (!target.dead) killedAlive.add(target);
                killSent.add(target);
                target.kill(undefined, { block: false });
                break;
              }
              case "get": {
                // only of an older greenlet: no cycle of gets can deadlock
                const mine = gs.indexOf(me);
                if (mine === 0) break;
                const target = gs[step.target % mine];
                // the target's own failure passes through get()
                const failure = (e: unknown) =>
                  target.dead && !target.successful() &&
                  e === target.exception;
                const v = await wait(
                  me,
                  frames,
                  "get",
                  () => target.get(),
                  failure,
                );
                if (!target.dead || v !== target.value) {
                  problems.push("get resolved with another value");
                }
                break;
              }
              case "scope": {
                const frame: Frame = {
                  ms: step.ms,
                  deadline: hub.now() + step.ms,
                  signal: null,
                };
                const late = {};
                const inner = [...frames, frame];
                const body = () => {
                  frame.signal = getCurrentSignal();
                  return run(me, step.body, inner);
                };
                const v = await wait(
                  me,
                  inner,
                  "withTimeout",
                  () =>
                    step.value
                      ? withTimeout(step.ms, body, { timeoutValue: late })
                      : withTimeout(step.ms, body),
                );
                if (v === late && hub.now() < frame.deadline) {
                  problems.push("timeoutValue not before the deadline");
                }
                break;
              }
              case "oneshot": {
                const t = Timeout.startNew(
                  step.ms,
                  new OneShot(me.id, hub.now() + step.ms),
                );
                try {
                  await run(me, step.body, frames);
                } finally {
                  t.cancel();
                }
                break;
              }
              case "swallow": {
                let caught: unknown = null;
                try {
                  await run(me, step.body, frames);
                } catch (e) {
                  caught = e;
                }
                // still cancelled here: killed, or a frame still open was
                // cancelled (a Timeout of a frame that closed is over)
                const level = caught !== null && (killSent.has(me) ||
                  frames.some((f) => f.signal?.aborted));
                if (level) {
                  // a catch-all retry: the cancellation must come back
                  let again = false;
                  if (killSent.has(me)) waitedAfterKill.add(me);
                  try {
                    await sleep(0);
                  } catch (e) {
                    again = true;
                    checkThrown(me, frames, e, "re-raise");
                    throw e;
                  } finally {
                    if (!again) {
                      problems.push("swallowed cancellation re-raised");
                    }
                  }
                }
                break;
              }
            }
          }
        };

        await hub.spawn(async () => {
          for (const steps of scripts) {
            const g: Greenlet = hub.spawn(() => run(g, steps, []));
            gs.push(g);
            g.link(() => ends.set(g, (ends.get(g) ?? 0) + 1));
          }
          for (const g of gs) await g.join();
        }).join();

        assert.deepEqual(problems, []);
        assert.deepEqual(gs.map((g) => ends.get(g)), gs.map(() => 1));
        // a kill is never lost: no greenlet sent one while alive ends with
        // a value of its own once it reached a switch point after it (one
        // that failed while the kill was on its way keeps its failure, as in
        // gevent; one that ran on to its end first — its own kill, or one
        // that came as its wait completed — keeps its outcome: completion
        // wins)
        for (const g of killedAlive) {
          if (!waitedAfterKill.has(g)) continue;
          assert.ok(
            g.value instanceof GreenletExit || !g.successful(),
            `${g} ended killed`,
          );
        }
        const failed = gs.filter((g) => !g.successful());
        assert.equal(errors.length, failed.length, "each failure once");
        for (const g of failed) assert.ok(errors.includes(g));
        for (const g of failed) {
          assert.ok(
            g.exception instanceof Timeout || g.exception instanceof OneShot,
            `${g} failed with ${g.exception}`,
          );
        }
      }),
    ),
    { numRuns: 3 * Number(process.env.PROPERTY_RUNS ?? 60) },
  );
});

// ---------------------------------------------------------------------------
// Promises the mutation run showed untested (issue 10)

test("Timeout's message, a Timeout that never fires, cancel before start", () => {
  assert.equal(new Timeout(5).message, "5 ms");
  assert.equal(new Timeout().message, "Timeout");
  assert.equal(new Timeout(Infinity).start().pending, false);
  const never = new Timeout().start();
  assert.equal(never.pending, false);
  never.cancel();
  new Timeout(5).cancel(); // never started: nothing to do
});

test.virtual("restarting a Timeout that fired undelivered withdraws the old error", async () => {
  const gate = deferred();
  const g = spawn(async () => {
    const t = Timeout.startNew(1);
    await gate.promise; // it fires here, undelivered
    t.start(); // armed again for 1 ms: the old error is withdrawn
    const first = await sleep(0).then(
      () => "sleep(0) ran",
      (e) => `threw ${e}`,
    );
    const second = await sleep(50).then(() => "slept?!", (e) => e === t);
    return [first, second];
  });
  spawnLater(10, gate.resolve); // after the Timeout fired
  assert.deepEqual(await g.get(), ["sleep(0) ran", true]);
});

test.virtual("withTimeout: sync values and throws, its own arguments, and what counts as options", async () => {
  assert.equal(await withTimeout(10, () => 5), 5);
  await assert.rejects(
    withTimeout(10, () => {
      throw new RangeError("sync");
    }),
    /sync/,
  );
  assert.equal(
    await withTimeout(10, (a: number, b: number) => a + b, 2, 3),
    5,
  );
  await assert.rejects(
    withTimeout(1000, async () => {
      await sleep(0);
      throw new RangeError("async");
    }),
    /async/,
  );
  assert.equal(await withTimeout(10, (x: null) => x, null), null);
  // options only as the single trailing argument
  const first = { timeoutValue: 1 };
  assert.deepEqual(
    await withTimeout(10, (...args: unknown[]) => args, first, 2),
    [first, 2],
  );
  class Box {
    timeoutValue = 1;
  }
  const box = new Box();
  // only a plain object is the options: a class instance is an argument
  assert.equal(await withTimeout(10, (b: Box) => b, box), box);
  // a function that declares a parameter gets the object, whatever it holds
  const job = { timeoutValue: 7, name: "job" };
  assert.equal(
    await withTimeout(10, (j: { timeoutValue: number }) => j, job),
    job,
  );
  await assert.rejects(
    withTimeout(
      5,
      (j: { timeoutValue: number }) => sleep(50).then(() => j),
      { timeoutValue: 9 },
    ),
    Timeout,
  );
  const opts = { timeoutValue: "late" };
  assert.equal(
    await withTimeout(
      5,
      (...args: unknown[]) => sleep(50).then(() => args),
      opts,
    ),
    "late",
  );
  assert.deepEqual(
    await withTimeout(10, (...args: unknown[]) => args, { timeoutValue: 0 }),
    [],
  );
  assert.throws(() => withTimeout("5" as never, () => 1), {
    name: "TypeError",
    message:
      'Cannot run withTimeout: ms must be a number of milliseconds, received "5"',
  });
  assert.throws(() => withTimeout((() => 1) as never, () => 1), {
    name: "TypeError",
    message:
      "Cannot run withTimeout: ms must be a number of milliseconds, received function (anonymous)",
  });
  assert.throws(() => shield(() => 1, 5 as never), {
    name: "TypeError",
    message: "Cannot shield: options must be an object, received 5",
  });
});

test("withTimeout shows in the run info; a cancelled caller never runs fn", async () => {
  const g = spawn(function bounded() {
    return withTimeout(1000, () => sleep(1000));
  });
  await sleep(0);
  assert.match(
    formatRunInfo(),
    /"bounded" #\d+: bounded\(\)> waiting on sleep \(\d[^)]* left\) inside withTimeout\(1000 ms, \d[^)]* left\)/,
  );
  await g.kill();
  const ran: string[] = [];
  const h = await killedWhileAway(async (away) => {
    await away;
    await withTimeout(10, () => ran.push("fn ran?!"));
  });
  assert.deepEqual(ran, []);
  assert.ok(h.value instanceof GreenletExit);
});

test.virtual("shield: a sync throw rejects; its deadline is level-triggered and ends with it", async () => {
  await assert.rejects(
    shield(() => {
      throw new RangeError("inside");
    }),
    /inside/,
  );
  const log: string[] = [];
  // the shield's scope ends when fn has: fn, cancelled at the deadline,
  // catches the Timeout at both waits and returns — completion wins
  const v = await shield(async () => {
    for (let i = 0; i < 2; i++) {
      try {
        await sleep(1000);
      } catch (e) {
        log.push(`${e instanceof Timeout ? "Timeout" : e}@${getHub().now()}`);
      }
    }
    return "ended";
  }, { timeout: 5 });
  assert.deepEqual([...log, v], ["Timeout@5", "Timeout@5", "ended"]);
  // one that lets it through rejects with it, once fn has ended
  await assert.rejects(
    shield(async () => {
      try {
        await sleep(1000);
      } finally {
        await sleep(0).catch(() => log.push("finally cancelled too"));
      }
    }, { timeout: 5 }),
    Timeout,
  );
  assert.equal(log.at(-1), "finally cancelled too");
  // a shield that ended early: its deadline never fires afterwards
  let signal!: AbortSignal;
  await shield(() => {
    signal = getCurrentSignal();
  }, { timeout: 5 });
  await sleep(20);
  assert.equal(signal.aborted, false);
});

test.virtual("a kill arriving while a shield waits does not reach inside; it lands after", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    await shield(async () => {
      await sleep(10);
      log.push("shielded sleep done");
    });
    await sleep(0).catch((e) => log.push(`after: ${(e as Error).name}`));
    log.push("went on");
  });
  await sleep(1);
  g.kill(undefined, { block: false });
  await g.join();
  assert.deepEqual(log, [
    "shielded sleep done",
    "after: GreenletExit",
    "went on",
  ]);
  // it caught the kill and returned: gevent's success, its outcome stands
  assert.deepEqual([g.successful(), g.value], [true, undefined]);
});

test.virtual("a one-shot Timeout is thrown once: the next wait goes on", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    const t = Timeout.startNew(1);
    try {
      await sleep(20);
    } catch (e) {
      log.push(e === t ? "Timeout" : `${e}`);
    }
    await sleep(0);
    log.push("sleep(0) ran");
    await sleep(1);
    log.push("sleep(1) ran");
  });
  await g.join();
  assert.deepEqual(log, ["Timeout", "sleep(0) ran", "sleep(1) ran"]);
});

test("a Timeout landing on a queued sleep(0) is thrown there once", async () => {
  // a greenlet that only switches: the Timeout fires while its sleep(0)
  // waits in the run queue
  const g = spawn(async () => {
    const t = Timeout.startNew(2);
    let caught = 0;
    let after = 0;
    for (let i = 0; i < 10_000_000 && after < 100; i++) {
      try {
        await sleep(0);
        if (caught > 0) after++;
      } catch (e) {
        if (e === t) caught++;
      }
    }
    return [caught, after];
  });
  assert.deepEqual(await g.get(), [1, 100]);
});

test("cancelling a Timeout never withdraws a kill", async () => {
  const log: string[] = [];
  await killedWhileAway(async (away) => {
    const t = Timeout.startNew(10_000);
    await away;
    t.cancel();
    await sleep(0).catch((e) => log.push((e as Error).name));
  });
  assert.deepEqual(log, ["GreenletExit"]);
});

test("getCurrentSignal: made after a cancel it is aborted already; inside withTimeout it follows a kill; the scope's listener goes with it", async () => {
  const seen: string[] = [];
  await killedWhileAway(async (away) => {
    await away;
    seen.push(`late signal aborted: ${getCurrentSignal().aborted}`);
  });
  let inner!: AbortSignal;
  const h = spawn(() =>
    withTimeout(10_000, async () => {
      inner = getCurrentSignal();
      await sleep(10_000);
    })
  );
  await sleep(0);
  await h.kill();
  seen.push(`inner aborted by the kill: ${inner.aborted}`);
  // a finished withTimeout leaves no listener on its greenlet's signal
  let outer!: AbortSignal;
  const k = spawn(async () => {
    outer = getCurrentSignal();
    for (let i = 0; i < 3; i++) {
      await withTimeout(100, () => void getCurrentSignal());
    }
    seen.push(`listeners left: ${getEventListeners(outer, "abort").length}`);
  });
  await k.join();
  assert.deepEqual(seen, [
    "late signal aborted: true",
    "inner aborted by the kill: true",
    "listeners left: 0",
  ]);
});

test("sleep(0) inside withTimeout and shield takes its turn like any other", async () => {
  const log: string[] = [];
  const other = spawn(async () => {
    for (let i = 0; i < 3; i++) {
      log.push(`other ${i}`);
      await sleep(0);
    }
  });
  await withTimeout(1000, async () => {
    log.push("scoped 0");
    await sleep(0);
    log.push("scoped 1");
    await shield(async () => {
      await sleep(0);
      log.push("shielded 2");
    });
  });
  await other.join();
  assert.deepEqual(log, [
    "scoped 0",
    "other 0",
    "scoped 1",
    "other 1",
    "shielded 2",
    "other 2",
  ]);
});

test("a shield's signal is not aborted by the kill outside it", async () => {
  const seen: boolean[] = [];
  const g = spawn(async () => {
    try {
      await sleep(10_000);
    } finally {
      await shield(() => {
        seen.push(getCurrentSignal().aborted);
      });
      seen.push(getCurrentSignal().aborted);
    }
  });
  await sleep(0);
  await g.kill();
  assert.deepEqual(seen, [false, true]);
});

test.virtual("cancelling one Timeout keeps another's undelivered error", async () => {
  const gate = deferred();
  const g = spawn(async () => {
    const t1 = Timeout.startNew(1);
    const t2 = Timeout.startNew(2);
    await gate.promise; // both fire here, undelivered
    t2.cancel();
    return await sleep(0).then(() => "none?!", (e) => e === t1);
  });
  spawnLater(10, gate.resolve); // after the Timeout fired
  assert.equal(await g.get(), true);
});

test("a kill lands on waits that start inside withTimeout after it, and on that scope's new signal", async () => {
  const log: string[] = [];
  const g = await killedWhileAway((away) =>
    withTimeout(10_000, async () => {
      await away;
      log.push(`new signal aborted: ${getCurrentSignal().aborted}`);
      await sleep(1).catch((e) => log.push(`sleep: ${(e as Error).name}`));
    })
  );
  assert.deepEqual(log, [
    "new signal aborted: true",
    "sleep: GreenletExit",
  ]);
  assert.deepEqual([g.successful(), g.value], [true, undefined]);
});

// ---------------------------------------------------------------------------
// A gap a mutation check found: an explicit `timeoutValue: undefined`.

test.virtual("withTimeout(ms, fn, { timeoutValue: undefined }) resolves undefined at the deadline: an explicit option, not a rejection", async () => {
  const outcome = await withTimeout(10, async () => {
    await sleep(100);
    return "late";
  }, { timeoutValue: undefined }).then(
    (value) => ({ resolved: value, at: getHub().now() }),
    (e) => ({ rejected: (e as Error).name, at: getHub().now() }),
  );
  assert.deepEqual(outcome, { resolved: undefined, at: 10 });
});

// ---------------------------------------------------------------------------
// Cancellation rule 3: a scope ends when its body has.

test.virtual("kill() of a greenlet inside withTimeout returns once the body has unwound, its shielded cleanup included (the issue's repro)", async () => {
  const log: string[] = [];
  const g = spawn(() =>
    withTimeout(5000, async () => {
      try {
        await sleep(1000);
      } finally {
        await shield(async () => {
          await sleep(50);
          log.push(`closed@${getHub().now()}`);
        });
      }
    })
  );
  await sleep(10);
  await g.kill();
  log.push(`kill returned@${getHub().now()}: dead ${g.dead}`);
  assert.deepEqual(log, ["closed@60", "kill returned@60: dead true"]);
  assert.ok(g.value instanceof GreenletExit);
});

test.virtual("withTimeout's deadline ends the scope only once its body has unwound, its shielded cleanup included", async () => {
  const log: string[] = [];
  const outcome = await withTimeout(10, async () => {
    try {
      await sleep(1000);
    } finally {
      await shield(async () => {
        await sleep(50);
        log.push(`closed@${getHub().now()}`);
      });
    }
  }).catch((e) => (e as Error).name);
  log.push(`withTimeout: ${outcome}@${getHub().now()}`);
  assert.deepEqual(log, ["closed@60", "withTimeout: Timeout@60"]);
});

// ---------------------------------------------------------------------------
// Cancellation rule 2, nothing lost: a release and withTimeout's deadline at
// the same instant.

test.virtual("a release and withTimeout's deadline at the same instant: the permit is held by the waiter or still free, never lost", async () => {
  const log: string[] = [];
  for (const releaserFirst of [true, false]) {
    const sem = new Semaphore(0);
    let held = 0;
    const waiter = async () => {
      const ok = await withTimeout(5, () => sem.acquire()).catch(() => false);
      if (ok) held++;
    };
    const releaser = async () => {
      await sleep(5);
      sem.release();
    };
    const gs = releaserFirst
      ? [spawn(releaser), spawn(waiter)]
      : [spawn(waiter), spawn(releaser)];
    await joinAll(gs);
    log.push(`releaser first ${releaserFirst}: ${sem.counter + held}`);
  }
  assert.deepEqual(log, ["releaser first true: 1", "releaser first false: 1"]);
});
