import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import process from "node:process";
import fc from "fast-check";
import {
  type AcquireOptions,
  BoundedSemaphore,
  DummySemaphore,
  getCurrent,
  getHub,
  type Greenlet,
  GreenletExit,
  joinAll,
  killAll,
  LoopExit,
  NotOwnerError,
  RLock,
  Semaphore,
  setSiteMode,
  sleep,
  spawn,
  Timeout,
  withTimeout,
} from "../mod.ts";
import {
  capturingErrors,
  errorsOf,
  inVirtualTime,
  test,
} from "./test_adapter.ts";
import { type WaitCase, waitContract } from "./test_waits.ts";
import { withVirtualTime } from "../testing.ts";

test("Semaphore wakes waiters in FIFO order", async () => {
  const sem = new Semaphore(0);
  const log: string[] = [];
  const waiter = async (name: string) => {
    await sem.acquire();
    log.push(name);
  };
  const gs = ["a", "b", "c"].map((n) => spawn(waiter, n));
  await sleep(0);
  sem.release();
  sem.release();
  sem.release();
  await joinAll(gs);
  assert.deepEqual(log, ["a", "b", "c"]);
  assert.equal(sem.counter, 0);
});

test("release hands the permit to the longest waiter: no barging", async () => {
  const sem = new Semaphore(1);
  const log: string[] = [];
  await sem.acquire();
  const waiter = spawn(async () => {
    await sem.acquire();
    log.push("waiter got it");
    sem.release();
  });
  await sleep(0);
  sem.release(); // handed to the waiter, not to the counter
  log.push(`counter ${sem.counter}, locked ${sem.locked()}`);
  log.push(`tryAcquire ${sem.tryAcquire()}`);
  const barger = spawn(async () => {
    await sem.acquire();
    log.push("barger got it");
    sem.release();
  });
  await joinAll([waiter, barger]);
  assert.deepEqual(log, [
    "counter 0, locked true",
    "tryAcquire false",
    "waiter got it",
    "barger got it",
  ]);
  assert.equal(sem.counter, 1);
});

test.virtual("the tutorial's interleaving: Semaphore(1), sleeps of 100 and 300 ms", async () => {
  // In virtual time (testing.ts): the tutorial's own figures, exact instants,
  // no margin against a loaded machine's late timers needed.
  const sem = new Semaphore(1);
  const log: string[] = [];
  const f = async (name: string, ms: number) => {
    for (let i = 0; i < 5; i++) {
      await sem.acquire();
      log.push(`${name} ${i}@${getHub().now()}`);
      sem.release();
      await sleep(ms);
    }
  };
  await joinAll([spawn(f, "f1", 100), spawn(f, "f2", 300)]);
  assert.deepEqual(log, [
    "f1 0@0",
    "f2 0@0",
    "f1 1@100",
    "f1 2@200",
    "f2 1@300", // f2's timer was armed first
    "f1 3@300",
    "f1 4@400",
    "f2 2@600",
    "f2 3@900",
    "f2 4@1200",
  ]);
  assert.equal(getHub().now(), 1500); // f2's fifth sleep
});

test.virtual("acquire with a timeout resolves false and leaves no waiter behind", async () => {
  const sem = new Semaphore(0);
  assert.equal(await sem.acquire({ timeout: 5 }), false);
  assert.equal(getHub().now(), 5);
  assert.equal(await sem.acquire({ timeout: 0 }), false);
  sem.release();
  assert.equal(sem.counter, 1); // not handed to the timed-out waiter
  assert.equal(sem.tryAcquire(), true);
});

test("acquire with a signal rejects with signal.reason; an aborted signal at once", async () => {
  const sem = new Semaphore(0);
  const ac = new AbortController();
  const p = sem.acquire({ signal: ac.signal });
  const reason = new Error("stop waiting");
  ac.abort(reason);
  await assert.rejects(p, (e) => e === reason);
  await assert.rejects(
    sem.acquire({ signal: AbortSignal.abort("already") }),
    (e) => e === "already",
  );
  sem.release();
  assert.equal(sem.counter, 1);
});

test("killing a waiting greenlet removes its wait: the permit is not lost", async () => {
  const sem = new Semaphore(0);
  const log: string[] = [];
  const victim = spawn(async () => {
    await sem.acquire();
    log.push("victim?!");
  });
  const next = spawn(async () => {
    await sem.acquire();
    log.push("next");
  });
  await sleep(0);
  await victim.kill();
  sem.release();
  await next.join();
  assert.deepEqual(log, ["next"]);
});

test.virtual("hold() returns a Disposable for `using`", async () => {
  const sem = new Semaphore(2);
  const log: string[] = [];
  const job = async (name: string, ms: number) => {
    using _permit = await sem.hold();
    log.push(`${name} in@${getHub().now()}`);
    await sleep(ms);
    log.push(`${name} out@${getHub().now()}`);
  };
  await joinAll([spawn(job, "a", 5), spawn(job, "b", 30), spawn(job, "c", 5)]);
  assert.deepEqual(log, [
    "a in@0",
    "b in@0",
    "a out@5",
    "c in@5",
    "c out@10",
    "b out@30",
  ]);
  assert.equal(sem.counter, 2);
  await assert.rejects(new Semaphore(0).hold({ timeout: 1 }), {
    name: "Timeout",
  });
  assert.equal(getHub().now(), 31);
});

test("disposing a hold() permit twice releases once", async () => {
  const sem = new Semaphore(2);
  const permit = await sem.hold();
  const other = await sem.hold();
  assert.equal(sem.counter, 0);
  permit[Symbol.dispose]();
  permit[Symbol.dispose]();
  assert.equal(sem.counter, 1);
  other[Symbol.dispose]();
  assert.equal(sem.counter, 2);
});

test("tryAcquire takes the permit: counter and locked() follow", () => {
  const sem = new Semaphore(2);
  const seen: unknown[] = [];
  for (let i = 0; i < 3; i++) {
    seen.push([sem.tryAcquire(), sem.counter, sem.locked()]);
  }
  assert.deepEqual(seen, [[true, 1, false], [true, 0, true], [false, 0, true]]);
  sem.release();
  sem.release();
  assert.equal(sem.counter, 2);
});

test.virtual("wait() resolves when a permit is free without taking it", async () => {
  const sem = new Semaphore(0);
  const got = spawn(() => sem.wait());
  await sleep(0);
  sem.release();
  assert.equal(await got.get(), 1);
  assert.equal(sem.counter, 1);
  assert.equal(await new Semaphore(0).wait(1), 0);
});

test("BoundedSemaphore: over-release throws RangeError and changes nothing", async () => {
  const sem = new BoundedSemaphore(2);
  await sem.acquire();
  sem.release();
  assert.throws(() => sem.release(), {
    name: "RangeError",
    message: "Semaphore released too many times",
  });
  assert.equal(sem.counter, 2);
  assert.equal(sem.initialValue, 2);
});

test("RLock is re-entrant for its owner and FIFO for others", async () => {
  const lock = new RLock();
  const log: string[] = [];
  const worker = async (name: string) => {
    await lock.acquire();
    await lock.acquire();
    log.push(`${name} owns: ${lock.owner === getCurrent()}`);
    await sleep(0);
    lock.release();
    lock.release();
  };
  await joinAll(["a", "b", "c"].map((n) => spawn(worker, n)));
  assert.deepEqual(log, ["a owns: true", "b owns: true", "c owns: true"]);
  assert.equal(lock.locked(), false);
});

test("RLock.release by a non-owner throws NotOwnerError", async () => {
  const lock = new RLock();
  await lock.acquire();
  const hub = getHub();
  const original = hub.handleError;
  const reported: unknown[] = [];
  hub.handleError = (_g, e) => void reported.push(e);
  const other = spawn(() => lock.release());
  await other.join();
  hub.handleError = original;
  assert.deepEqual(reported, [other.exception]);
  assert.ok(other.exception instanceof NotOwnerError);
  assert.equal((other.exception as NotOwnerError).owner, getCurrent());
  assert.equal((other.exception as NotOwnerError).caller, other);
  assert.match(
    (other.exception as Error).message,
    /^Cannot release RLock: it is held by <Greenlet "main" #0>, released by <Greenlet/,
  );
  lock.release();
  assert.throws(() => lock.release(), NotOwnerError);
});

test.virtual("RLock: hand-off to the next waiter makes it the owner; timeouts and hold()", async () => {
  const lock = new RLock();
  const log: string[] = [];
  await lock.acquire();
  const waiter = spawn(async function waiter() {
    using _held = await lock.hold();
    log.push(`waiter owns: ${lock.owner === getCurrent()}`);
  });
  const impatient = spawn(async function impatient() {
    log.push(`impatient got it: ${await lock.acquire({ timeout: 1 })}`);
  });
  await impatient.join();
  lock.release();
  log.push(`owner after release: ${lock.owner?.name}`);
  await waiter.join();
  log.push(`locked at the end: ${lock.locked()}`);
  await assert.rejects(
    spawn(() => lock.hold({ timeout: 0 })).get().then(() =>
      lock.hold({ timeout: 1 })
    ),
    { name: "Timeout" },
  );
  assert.deepEqual(log, [
    "impatient got it: false",
    "owner after release: waiter",
    "waiter owns: true",
    "locked at the end: false",
  ]);
});

test("DummySemaphore never blocks", async () => {
  const sem = new DummySemaphore();
  for (let i = 0; i < 3; i++) assert.equal(await sem.acquire(), true);
  assert.equal(sem.tryAcquire(), true);
  assert.equal(sem.locked(), false);
  sem.release();
  using _h = await sem.hold();
});

test("bad arguments throw at once, naming the argument and value", () => {
  assert.throws(() => new Semaphore(-1), {
    name: "RangeError",
    message: "Cannot create Semaphore: value must be ≥ 0, received -1",
  });
  assert.throws(() => new Semaphore(1.5), {
    name: "TypeError",
    message: "Cannot create Semaphore: value must be an integer, received 1.5",
  });
  assert.throws(() => new BoundedSemaphore(-2), {
    name: "RangeError",
    message: "Cannot create BoundedSemaphore: value must be ≥ 0, received -2",
  });
  const sem = new Semaphore(1);
  assert.throws(() => sem.acquire({ timeout: -5 }), {
    name: "RangeError",
    message: "Cannot acquire Semaphore: timeout must be ≥ 0, received -5",
  });
  assert.throws(() => sem.acquire({ timeout: NaN }), {
    name: "TypeError",
    message:
      "Cannot acquire Semaphore: timeout must be a number of milliseconds or undefined, received NaN",
  });
  assert.throws(() => sem.acquire({ signal: "x" as never }), {
    name: "TypeError",
    message:
      'Cannot acquire Semaphore: signal must be an AbortSignal, received "x"',
  });
  assert.throws(() => new RLock().acquire({ timeout: -1 }), RangeError);
  assert.equal(sem.counter, 1);
});

function semaphoreCase(
  name: string,
  call: (sem: Semaphore, o: AcquireOptions) => Promise<unknown>,
  onTimeout: string,
  onReady: string,
  signal: boolean,
  wakeAll = false,
): WaitCase {
  return {
    name,
    make() {
      const sem = new Semaphore(0);
      return {
        wait: (o) => call(sem, o),
        after: (v) => (v as Partial<Disposable>)?.[Symbol.dispose]?.(),
        wake: (n) => {
          for (let i = 0; i < (wakeAll ? 1 : n); i++) sem.release();
        },
        waitable: sem,
      };
    },
    onTimeout,
    onReady,
    signal,
    description: /Semaphore\(counter=0, waiters=\d\)/,
  };
}

waitContract(
  semaphoreCase(
    "Semaphore.acquire",
    (s, o) => s.acquire(o),
    "false",
    "true",
    true,
  ),
);
waitContract(
  semaphoreCase(
    "Semaphore.hold",
    (s, o) => s.hold(o),
    "Timeout",
    "object",
    true,
  ),
);
waitContract(
  semaphoreCase(
    "Semaphore.wait",
    (s, o) => s.wait(o.timeout),
    "0",
    "1",
    false,
    true,
  ),
);

function rlockCase(
  name: string,
  call: (lock: RLock, o: AcquireOptions) => Promise<unknown>,
  onTimeout: string,
  onReady: string,
): WaitCase {
  return {
    name,
    async make() {
      const lock = new RLock();
      const gate = new Semaphore(0);
      const holder = spawn(async function holder() {
        await lock.acquire();
        await gate.acquire();
        lock.release();
      });
      await sleep(0);
      return {
        wait: (o) => call(lock, o),
        after: (v) => {
          const permit = v as Partial<Disposable>;
          if (permit?.[Symbol.dispose]) permit[Symbol.dispose]!();
          else lock.release();
        },
        wake: () => gate.release(),
        waitable: lock,
        cleanup: async () => {
          gate.release();
          await holder.join();
        },
      };
    },
    onTimeout,
    onReady,
    signal: true,
    description:
      /RLock\(owner=<Greenlet "holder" #\d+: holder\(\)>, depth=1, waiters=\d\)/,
  };
}

waitContract(
  rlockCase("RLock.acquire", (l, o) => l.acquire(o), "false", "true"),
);
waitContract(rlockCase("RLock.hold", (l, o) => l.hold(o), "Timeout", "object"));

test("acquire({ timeout: 0 }) is a switch point like any wait: an aborted signal or a kill lands, for every lock", async () => {
  const aborted = AbortSignal.abort(new Error("aborted"));
  const cases: [string, () => Promise<boolean>][] = [
    [
      "Semaphore(0)",
      () => new Semaphore(0).acquire({ timeout: 0, signal: aborted }),
    ],
    [
      "Semaphore(1)",
      () => new Semaphore(1).acquire({ timeout: 0, signal: aborted }),
    ],
    ["free RLock", () => new RLock().acquire({ timeout: 0, signal: aborted })],
  ];
  for (const [name, call] of cases) {
    await assert.rejects(call(), { message: "aborted" }, name);
  }
  const log: string[] = [];
  const g = spawn(async function killed() {
    try {
      await sleep(10_000);
    } catch {
      // a catch-all: the kill stays
    }
    for (
      const [name, lock] of [
        ["Semaphore(1)", new Semaphore(1)],
        ["Semaphore(0)", new Semaphore(0)],
        ["free RLock", new RLock()],
      ] as const
    ) {
      try {
        log.push(`${name}: ${await lock.acquire({ timeout: 0 })}`);
      } catch (e) {
        log.push(`${name}: ${(e as Error).name}`);
      }
    }
  });
  await sleep(0);
  await g.kill();
  assert.deepEqual(log, [
    "Semaphore(1): GreenletExit",
    "Semaphore(0): GreenletExit",
    "free RLock: GreenletExit",
  ]);
});

test("a refused RLock permit disposal changes nothing: the owner's dispose still releases", async () => {
  const lock = new RLock();
  const permit = await lock.hold();
  await capturingErrors(async (errors) => {
    const other = spawn(function other() {
      permit[Symbol.dispose]();
    });
    await other.join();
    assert.ok(other.exception instanceof NotOwnerError);
    assert.equal(errors.length, 1);
  });
  assert.equal(lock.locked(), true);
  permit[Symbol.dispose]();
  assert.equal(lock.locked(), false);
});

// ---------------------------------------------------------------------------
// Property: random scripts of greenlets against Semaphore's model

type Op =
  | { kind: "acquire"; timeout?: number | undefined }
  | { kind: "hold" }
  | { kind: "tryAcquire" }
  | { kind: "sleep"; ms: number }
  | { kind: "release" }
  | { kind: "kill"; target: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("acquire" as const),
    timeout: fc.option(fc.constantFrom(0, 1, 2), { nil: undefined }),
  }),
  fc.constant({ kind: "hold" as const }),
  fc.constant({ kind: "tryAcquire" as const }),
  fc.record({ kind: fc.constant("sleep" as const), ms: fc.constantFrom(0, 1) }),
  fc.constant({ kind: "release" as const }),
  fc.record({ kind: fc.constant("kill" as const), target: fc.nat(4) }),
);

/**
 * The model: permits are conserved (holders ≤ permits at every moment, all
 * back at the end), waiters get permits in the order they queued (hand-off,
 * no barging), each greenlet ends exactly once, and nothing fails but kills.
 * Bugs injected in a scratch copy of lock.ts, and what caught them:
 * `release()` also incrementing the counter when it hands the permit to a
 * waiter — "every permit came back" (seed -135571161); `release()` handing
 * the permit to the newest waiter (LIFO) — the FIFO order (seed 611168141).
 * Runs: `PROPERTY_RUNS` (default 60; `deno task test:long` runs 6,000).
 */
test("property: Semaphore conserves permits and hands them off in FIFO order under kills and timeouts", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 2 }),
      fc.array(fc.array(opArb, { maxLength: 6 }), {
        minLength: 1,
        maxLength: 5,
      }),
      inVirtualTime(async (permits, scripts) => {
        const sem = new Semaphore(permits);
        let holders = 0;
        // waits (one token per blocking acquire) in the order they queued,
        // and in the order they were served
        const queued: string[] = [];
        const served: string[] = [];
        const ends = new Map<number, number>();
        const gs: Greenlet[] = [];
        const problems: string[] = [];
        const take = () => {
          if (++holders > permits) problems.push("more holders than permits");
        };
        const run = async (me: number, ops: Op[]) => {
          let held = 0;
          let token = "";
          try {
            for (const [step, op] of ops.entries()) {
              if (op.kind === "acquire" || op.kind === "hold") {
                const waits = sem.locked();
                token = waits ? `${me}.${step}` : "";
                if (waits) queued.push(token);
                let ok: boolean;
                if (op.kind === "hold") {
                  await sem.hold(); // released by count below
                  ok = true;
                } else {
                  ok = await sem.acquire({ timeout: op.timeout });
                }
                if (ok) {
                  take();
                  held++;
                  if (waits) served.push(token);
                } else if (waits) queued.splice(queued.indexOf(token), 1);
                token = "";
              } else if (op.kind === "tryAcquire") {
                if (sem.tryAcquire()) {
                  take();
                  held++;
                }
              } else if (op.kind === "sleep") {
                await sleep(op.ms);
              } else if (op.kind === "release") {
                if (held > 0) {
                  held--;
                  holders--;
                  sem.release();
                }
              } else {
                gs[op.target % gs.length].kill(undefined, { block: false });
              }
            }
          } catch (e) {
            if (!(e instanceof GreenletExit)) throw e;
            // killed while queued: it left the queue unserved
            if (token !== "") queued.splice(queued.indexOf(token), 1);
          } finally {
            for (; held > 0; held--) {
              holders--;
              sem.release();
            }
          }
        };
        await capturingErrors(async (errors) => {
          scripts.forEach((ops, i) => gs.push(spawn(run, i, ops)));
          for (const g of gs) {
            g.link(() => ends.set(g.id, (ends.get(g.id) ?? 0) + 1));
          }
          // scripts may block for ever (a permit nobody gives back): end
          // them with a kill, which must land and give their permits back
          await joinAll(gs, { timeout: 10 });
          await killAll(gs);
          assert.deepEqual(errors, []);
        });
        assert.deepEqual(problems, []);
        assert.equal(sem.counter, permits, "every permit came back");
        assert.equal(holders, 0);
        // FIFO: those served after waiting were served in the order queued
        const order = queued.filter((g) => served.includes(g));
        assert.deepEqual(served, order.slice(0, served.length));
        assert.deepEqual([...ends.values()], gs.map(() => 1));
      }),
    ),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 60) },
  );
});

type LockOp =
  | { kind: "acquire"; timeout?: number | undefined }
  | { kind: "tryAcquire" }
  | { kind: "release" }
  | { kind: "releaseOther" }
  | { kind: "sleep"; ms: number }
  | { kind: "kill"; target: number };

const lockOpArb: fc.Arbitrary<LockOp> = fc.oneof(
  fc.record({
    kind: fc.constant("acquire" as const),
    timeout: fc.option(fc.constantFrom(0, 1, 2), { nil: undefined }),
  }),
  fc.constant({ kind: "tryAcquire" as const }),
  fc.constant({ kind: "release" as const }),
  fc.constant({ kind: "releaseOther" as const }),
  fc.record({ kind: fc.constant("sleep" as const), ms: fc.constantFrom(0, 1) }),
  fc.record({ kind: fc.constant("kill" as const), target: fc.nat(4) }),
);

/**
 * The model of RLock: one owner at a time, with a depth that counts its
 * acquisitions; `owner`/`locked()` agree with the model after every step; a
 * release by a non-owner throws NotOwnerError and changes nothing; waiters
 * get the lock in the order they queued; it is free at the end.
 * Bug injected in a scratch copy of lock.ts, and what caught it: `release()`
 * by a non-owner dropping a level before throwing — "free at the end"
 * (seed -647949784).
 */
test("property: RLock has one owner with a depth, refuses non-owners, and is FIFO", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(lockOpArb, { maxLength: 6 }), {
        minLength: 1,
        maxLength: 5,
      }),
      inVirtualTime(async (scripts) => {
        const lock = new RLock();
        let owner: Greenlet | null = null;
        let depth = 0;
        const queued: string[] = [];
        const served: string[] = [];
        const problems: string[] = [];
        const gs: Greenlet[] = [];
        // An acquire takes effect before the caller resumes (at once, or by
        // hand-off while it is queued): compare only when none is in flight.
        let inFlight = 0;
        const check = (where: string) => {
          if (inFlight !== 0) return;
          if (lock.owner !== owner) problems.push(`${where}: owner agrees`);
          if (lock.locked() !== (depth > 0)) {
            problems.push(`${where}: locked`);
          }
        };
        const run = async (ops: LockOp[]) => {
          const me = getCurrent();
          let mine = 0;
          let token = "";
          try {
            for (const [step, op] of ops.entries()) {
              if (op.kind === "acquire") {
                const waits = lock.locked() && lock.owner !== me;
                token = waits ? `${me.id}.${step}` : "";
                if (waits) queued.push(token);
                inFlight++;
                let ok: boolean;
                try {
                  ok = await lock.acquire({ timeout: op.timeout });
                } finally {
                  inFlight--;
                }
                if (ok) {
                  if (owner !== null && owner !== me) {
                    problems.push("two owners");
                  }
                  owner = me;
                  depth++;
                  mine++;
                  if (waits) served.push(token);
                } else if (waits) queued.splice(queued.indexOf(token), 1);
                token = "";
              } else if (op.kind === "tryAcquire") {
                if (lock.tryAcquire()) {
                  owner = me;
                  depth++;
                  mine++;
                }
              } else if (op.kind === "release") {
                if (mine > 0) {
                  mine--;
                  if (--depth === 0) owner = null;
                  lock.release();
                }
              } else if (op.kind === "releaseOther") {
                if (owner !== me) {
                  assert.throws(() => lock.release(), NotOwnerError);
                }
              } else if (op.kind === "sleep") {
                await sleep(op.ms);
              } else {
                gs[op.target % gs.length].kill(undefined, { block: false });
              }
              check(`after ${op.kind}`);
            }
          } catch (e) {
            if (!(e instanceof GreenletExit)) throw e;
            if (token !== "") queued.splice(queued.indexOf(token), 1);
          } finally {
            for (; mine > 0; mine--) {
              if (--depth === 0) owner = null;
              lock.release();
            }
          }
        };
        await capturingErrors(async (errors) => {
          for (const ops of scripts) gs.push(spawn(run, ops));
          await joinAll(gs, { timeout: 10 });
          await killAll(gs);
          assert.deepEqual(errors, []);
        });
        assert.deepEqual(problems, []);
        assert.equal(lock.locked(), false, "free at the end");
        const order = queued.filter((t) => served.includes(t));
        assert.deepEqual(served, order.slice(0, served.length));
      }),
    ),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 60) },
  );
});

test.virtual("waits that end leave no listener on the caller's signal", async () => {
  const ac = new AbortController();
  const sem = new Semaphore(0);
  for (let i = 0; i < 5; i++) {
    assert.equal(await sem.acquire({ timeout: 1, signal: ac.signal }), false);
  }
  const g = spawn(() => sem.acquire({ signal: ac.signal }));
  await sleep(0);
  assert.equal(getEventListeners(ac.signal, "abort").length, 1);
  sem.release();
  assert.equal(await g.get(), true);
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  sem.release();
});

// ---------------------------------------------------------------------------
// Promises the mutation run showed untested (issue 10)

test("a waiting acquire() resolves true, a waiting hold() a Permit", async () => {
  const sem = new Semaphore(0);
  const a = spawn(() => sem.acquire());
  const h = spawn(() => sem.hold());
  await sleep(0);
  sem.release();
  sem.release();
  assert.equal(await a.get(), true);
  const permit = await h.result();
  assert.equal(typeof permit[Symbol.dispose], "function");
  permit[Symbol.dispose]();
  assert.equal(sem.counter, 1);
});

test("RLock.tryAcquire: free → taken, by its owner → deeper, by another → refused", async () => {
  const lock = new RLock();
  assert.equal(lock.tryAcquire(), true);
  assert.equal(lock.tryAcquire(), true);
  assert.equal(
    String(lock),
    `RLock(owner=${getCurrent()}, depth=2, waiters=0)`,
  );
  const other = spawn(() => lock.tryAcquire());
  assert.equal(await other.get(), false);
  lock.release();
  lock.release();
  assert.equal(lock.locked(), false);
  assert.equal(String(lock), "RLock(owner=none, depth=0, waiters=0)");
});

test("NotOwnerError says who holds the lock and who released it", async () => {
  const lock = new RLock();
  const stranger = spawn(function stranger() {
    try {
      lock.release();
    } catch (e) {
      return e;
    }
  });
  const free = await stranger.get() as NotOwnerError;
  assert.equal(free.name, "NotOwnerError");
  assert.equal(
    free.message,
    `Cannot release RLock: it is not held, released by ${stranger}`,
  );
  await lock.acquire();
  const other = spawn(function other() {
    try {
      lock.release();
    } catch (e) {
      return (e as Error).message;
    }
  });
  assert.equal(
    await other.get(),
    `Cannot release RLock: it is held by ${getCurrent()}, released by ${other}`,
  );
  lock.release();
});

test("DummySemaphore: always ready, wait and hold at once; bad arguments name the call", async () => {
  const d = new DummySemaphore();
  assert.equal(d.ready(), true);
  assert.equal(await d.wait(10), Infinity);
  const permit = await d.hold();
  permit[Symbol.dispose]();
  assert.throws(() => d.acquire(5 as never), {
    name: "TypeError",
    message:
      "Cannot acquire DummySemaphore: options must be an object, received 5",
  });
  assert.throws(() => d.wait(-1), {
    name: "RangeError",
    message: "Cannot wait on DummySemaphore: timeout must be ≥ 0, received -1",
  });
  assert.throws(() => d.hold(5 as never), {
    name: "TypeError",
    message:
      "Cannot hold DummySemaphore: options must be an object, received 5",
  });
});

test("bad arguments of hold, wait and RLock name the call and value", () => {
  assert.throws(() => new Semaphore(1.5), {
    name: "TypeError",
    message: "Cannot create Semaphore: value must be an integer, received 1.5",
  });
  const sem = new BoundedSemaphore(1);
  assert.throws(() => sem.hold(5 as never), {
    name: "TypeError",
    message:
      "Cannot hold BoundedSemaphore: options must be an object, received 5",
  });
  assert.throws(() => sem.hold({ timeout: -2 }), {
    name: "RangeError",
    message: "Cannot hold BoundedSemaphore: timeout must be ≥ 0, received -2",
  });
  assert.throws(() => sem.wait(-1), {
    name: "RangeError",
    message:
      "Cannot wait on BoundedSemaphore: timeout must be ≥ 0, received -1",
  });
  const lock = new RLock();
  assert.throws(() => lock.acquire(5 as never), {
    name: "TypeError",
    message: "Cannot acquire RLock: options must be an object, received 5",
  });
  assert.throws(() => lock.hold(5 as never), {
    name: "TypeError",
    message: "Cannot hold RLock: options must be an object, received 5",
  });
});

// ---------------------------------------------------------------------------
// Completion wins over a late cancellation (API.md, Cancellation rule 2): a
// kill that comes k microtask hops after an acquire completed (the permit
// taken, or handed over by a release) lands at the next switch point; the
// acquire returns true and the greenlet holds the permit. Nothing is lost:
// the permit is held by the greenlet or still free, exactly one of the two.

for (const scoped of [false, true]) {
  const via = scoped ? " inside withTimeout(1000)" : "";
  const acquire = (sem: Semaphore): Promise<boolean> =>
    scoped ? withTimeout(1000, () => sem.acquire()) : sem.acquire();
  // how g ended: by the kill, or before it (its sleep(0) was over already)
  const fate = (g: Greenlet) =>
    g.value instanceof GreenletExit ? "killed" : `ended with ${g.value}`;

  test(`a kill after k microtask hops into Semaphore.acquire of a free permit${via}: held or still free, never lost`, async () => {
    const log: string[] = [];
    const expected: string[] = [];
    for (let k = 0; k <= 12; k++) {
      const sem = new Semaphore(1);
      let held = 0;
      const g = spawn(async () => {
        if (await acquire(sem)) held++;
        await sleep(0);
      });
      for (let i = 0; i < k; i++) await null;
      const taken = sem.counter === 0; // the acquire completed
      const ended = g.dead;
      g.kill(undefined, { block: false });
      await g.join();
      log.push(`k=${k}: held ${held}, counter ${sem.counter}, ${fate(g)}`);
      expected.push(
        `k=${k}: held ${taken ? 1 : 0}, counter ${taken ? 0 : 1}, ${
          ended ? "ended with undefined" : "killed"
        }`,
      );
    }
    assert.deepEqual(log, expected);
  });

  test(`a kill after k microtask hops into Semaphore.acquire that a release handed the permit to${via}: the greenlet holds it`, async () => {
    const log: string[] = [];
    const expected: string[] = [];
    for (let k = 0; k <= 12; k++) {
      const sem = new Semaphore(0);
      let held = 0;
      const g = spawn(async () => {
        if (await acquire(sem)) held++;
        await sleep(0);
      });
      await sleep(0); // g waits
      sem.release(); // handed to g: its acquire completed
      for (let i = 0; i < k; i++) await null;
      const ended = g.dead;
      g.kill(undefined, { block: false });
      await g.join();
      log.push(`k=${k}: held ${held}, counter ${sem.counter}, ${fate(g)}`);
      expected.push(
        `k=${k}: held 1, counter 0, ${
          ended ? "ended with undefined" : "killed"
        }`,
      );
    }
    assert.deepEqual(log, expected);
  });

  test(`a kill after k microtask hops into Semaphore.acquire released by another greenlet${via}: held or still free, never lost`, async () => {
    const log: string[] = [];
    const expected: string[] = [];
    for (let k = 0; k <= 12; k++) {
      const sem = new Semaphore(0);
      let held = 0;
      let released = false;
      const g = spawn(async () => {
        if (await acquire(sem)) held++;
        await sleep(0);
      });
      await sleep(0); // g waits
      const releaser = spawn(() => {
        sem.release();
        released = true;
      });
      for (let i = 0; i < k; i++) await null;
      // a kill reaches waits in its turn, after what was queued before it
      // (gevent's run_callback order): the releaser, spawned first, hands
      // the permit over first — for every k, whether it ran yet or not
      assert.equal(released, g.dead);
      const handed = true;
      const ended = g.dead;
      g.kill(undefined, { block: false });
      await joinAll([g, releaser]);
      log.push(`k=${k}: held ${held}, counter ${sem.counter}, ${fate(g)}`);
      expected.push(
        `k=${k}: held ${handed ? 1 : 0}, counter ${handed ? 0 : 1}, ${
          ended ? "ended with undefined" : "killed"
        }`,
      );
    }
    assert.deepEqual(log, expected);
  });
}

// ---------------------------------------------------------------------------
// Ordering rule 8: a greenlet runs alone between two switch points. An
// uncontended acquire does not park, so no other greenlet runs in between.

test("an uncontended await sem.acquire() in a greenlet lets no other greenlet run before it goes on (ordering rule 8)", async () => {
  const sem = new Semaphore(2);
  const log: string[] = [];
  const body = async (name: string) => {
    log.push(`${name}1`);
    await sem.acquire();
    log.push(`${name}2`);
    await sleep(0);
    log.push(`${name}3`);
    sem.release();
  };
  await joinAll([spawn(body, "a"), spawn(body, "b")]);
  assert.deepEqual(log, ["a1", "a2", "b1", "b2", "a3", "b3"]);
  assert.equal(sem.counter, 2);
});

test("an uncontended hold() and a re-entrant RLock.acquire in a greenlet let no other greenlet in either (ordering rule 8)", async () => {
  const sem = new BoundedSemaphore(2);
  const lock = new RLock();
  const log: string[] = [];
  const a = spawn(async () => {
    log.push("a1");
    using _p = await sem.hold();
    log.push("a2");
    await lock.acquire();
    await lock.acquire(); // re-entrant: uncontended
    log.push("a3");
    lock.release();
    lock.release();
    await sleep(0);
    log.push("a4");
  });
  const b = spawn(async () => {
    log.push("b1");
    using _p = await sem.hold();
    log.push("b2");
    await sleep(0);
    log.push("b3");
  });
  await joinAll([a, b]);
  assert.deepEqual(log, ["a1", "a2", "a3", "b1", "b2", "a4", "b3"]);
  assert.equal(sem.counter, 2);
});

// ---------------------------------------------------------------------------
// Property: permits are conserved through withTimeout and kills, in virtual
// time and on real timers.

type ScopedOp =
  | { kind: "acquire"; timeout?: number | undefined }
  | { kind: "scopedAcquire"; ms: number }
  | { kind: "scopedHold"; ms: number; hold: number }
  | { kind: "tryAcquire" }
  | { kind: "release" }
  | { kind: "overRelease" }
  | { kind: "sleep"; ms: number }
  | { kind: "kill"; target: number };

const scopedOpArb: fc.Arbitrary<ScopedOp> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("acquire" as const),
      timeout: fc.option(fc.constantFrom(0, 1, 3), { nil: undefined }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("scopedAcquire" as const),
      ms: fc.constantFrom(0, 1, 2, 3),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("scopedHold" as const),
      ms: fc.constantFrom(0, 1, 2, 3),
      hold: fc.constantFrom(0, 1, 2, 3),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ kind: "tryAcquire" as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: "release" as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: "overRelease" as const }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("sleep" as const),
      ms: fc.constantFrom(0, 1, 2, 3),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("kill" as const),
      target: fc.nat(4),
    }),
    weight: 3,
  },
);

/**
 * Greenlets acquire (bare, with a timeout, or inside `withTimeout`, some
 * holding the permit past the deadline), release, and kill each other.
 * The model: whenever no acquire is in flight, `counter` + the permits held
 * by live greenlets === the initial value (a permit handed over is never
 * lost to a late kill or deadline: completion wins); a BoundedSemaphore
 * refuses a release beyond its initial value then and changes nothing;
 * after every greenlet ended, `counter` === the initial value; nothing
 * fails but kills.
 */
async function permitsConserved(
  bounded: boolean,
  permits: number,
  scripts: ScopedOp[][],
): Promise<void> {
  const sem = bounded ? new BoundedSemaphore(permits) : new Semaphore(permits);
  let holders = 0;
  let inFlight = 0;
  const problems: string[] = [];
  const gs: Greenlet[] = [];
  const check = (where: string) => {
    if (inFlight === 0 && sem.counter + holders !== permits) {
      problems.push(
        `${where}: counter ${sem.counter} + held ${holders} !== ${permits}`,
      );
    }
  };
  const run = async (ops: ScopedOp[]) => {
    let held = 0;
    const acquired = async (call: () => Promise<boolean>) => {
      inFlight++;
      let ok = false;
      try {
        ok = await call();
      } finally {
        inFlight--;
      }
      if (ok) {
        held++;
        holders++;
      }
    };
    try {
      for (const op of ops) {
        try {
          switch (op.kind) {
            case "acquire":
              await acquired(() => sem.acquire({ timeout: op.timeout }));
              break;
            case "scopedAcquire":
              await acquired(() => withTimeout(op.ms, () => sem.acquire()));
              break;
            case "scopedHold":
              await withTimeout(op.ms, async () => {
                await acquired(() => sem.acquire());
                await sleep(op.hold);
              });
              break;
            case "tryAcquire":
              if (sem.tryAcquire()) {
                held++;
                holders++;
              }
              break;
            case "release":
              if (held > 0) {
                held--;
                holders--;
                sem.release();
              }
              break;
            case "overRelease":
              if (bounded && inFlight === 0 && holders === 0) {
                const before = sem.counter;
                try {
                  sem.release();
                  problems.push("a release beyond the initial value passed");
                } catch (e) {
                  if (!(e instanceof RangeError)) throw e;
                }
                if (sem.counter !== before) {
                  problems.push("a refused release changed the counter");
                }
              }
              break;
            case "sleep":
              await sleep(op.ms);
              break;
            case "kill":
              gs[op.target % gs.length].kill(undefined, { block: false });
          }
        } catch (e) {
          if (!(e instanceof Timeout)) throw e; // a kill ends the script
        }
        check(`after ${op.kind}`);
      }
    } catch (e) {
      if (!(e instanceof GreenletExit)) throw e;
    } finally {
      for (; held > 0; held--) {
        holders--;
        sem.release();
      }
    }
  };
  const errors = await errorsOf(async () => {
    for (const ops of scripts) gs.push(spawn(run, ops));
    await joinAll(gs, { timeout: 20 });
    await killAll(gs);
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(problems, []);
  assert.equal(holders, 0);
  assert.equal(sem.counter, permits, "every permit came back");
}

const scopedScriptsArb = fc.array(fc.array(scopedOpArb, { maxLength: 6 }), {
  minLength: 1,
  maxLength: 5,
});

/**
 * Counterexamples found before (run first, every time): a permit taken
 * inside withTimeout lost to a kill from the next greenlet (seed 467241104).
 */
const PERMIT_EXAMPLES: [boolean, number, ScopedOp[][]][] = [
  [false, 1, [[], [{ kind: "scopedAcquire", ms: 0 }], [{
    kind: "kill",
    target: 1,
  }], []]],
];

test("property: Semaphore and BoundedSemaphore conserve permits through withTimeout and kills (virtual time)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.integer({ min: 0, max: 2 }),
      scopedScriptsArb,
      inVirtualTime(permitsConserved),
    ),
    {
      numRuns: Number(process.env.PROPERTY_RUNS ?? 50),
      examples: PERMIT_EXAMPLES,
    },
  );
});

/** Real-timer runs: a tenth of `PROPERTY_RUNS`, 30 by default (each takes ms). */
const REAL_RUNS = process.env.PROPERTY_RUNS === undefined
  ? 30
  : Math.ceil(Number(process.env.PROPERTY_RUNS) / 10);

test("property: Semaphore and BoundedSemaphore conserve permits through withTimeout and kills (real timers)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.integer({ min: 0, max: 2 }),
      scopedScriptsArb,
      permitsConserved,
    ),
    { numRuns: REAL_RUNS, examples: PERMIT_EXAMPLES },
  );
});

test("LoopExit says who holds a Semaphore: a release by one of its holders gives its own permit back, by anyone else the oldest's", async () => {
  const previous = setSiteMode("off"); // the holders alone
  const messages = await withVirtualTime(async () => {
    const sem = new Semaphore(2);
    const log: string[] = [];
    const take = async function take() {
      await sem.acquire();
      await sleep(Infinity);
    };
    const a = spawn(take);
    const b = spawn(take);
    a.name = "a";
    b.name = "b";
    const deadlock = async (): Promise<void> => {
      try {
        await sem.acquire();
        log.push("acquired?!");
      } catch (e) {
        if (!(e instanceof LoopExit)) throw e;
        log.push(
          e.message.split("\n")[1].replace(/^.* \(held by /, "held by "),
        );
      }
    };
    await sleep(0);
    await deadlock(); // both hold one
    sem.release(); // by main, a holder of none: the oldest's (a) goes
    sem.release(); // b's: nobody holds it
    await sem.acquire();
    await sem.acquire();
    await deadlock(); // main holds both
    await spawn(function other() {
      sem.release(); // by a greenlet holding none: main's oldest
    }).join();
    await sem.acquire();
    await killAll([a, b]);
    await deadlock();
    return log;
  }).finally(() => setSiteMode(previous));
  assert.deepEqual(messages, [
    'held by <Greenlet "a" #1: take()>, <Greenlet "b" #2: take()>)',
    'held by <Greenlet "main" #0>)',
    'held by <Greenlet "main" #0>)',
  ]);
});
