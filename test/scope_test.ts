import assert from "node:assert/strict";
import {
  cancellable,
  type CancelScope,
  failAfter,
  formatRunInfo,
  getHub,
  GreenletExit,
  moveOnAfter,
  sleep,
  spawn,
  Timeout,
  wait,
  withTimeout,
} from "../mod.ts";
import { capturingErrors, deferred, test } from "./test_adapter.ts";

test("cancellable: a kill reaches a raw await at once, calls onCancel, and the promise's later outcome is ignored", async () => {
  const log: string[] = [];
  let rejectRaw!: (e: unknown) => void;
  const raw = new Promise<string>((_, reject) => rejectRaw = reject);
  const g = spawn(async () => {
    try {
      await cancellable(raw, (reason) => {
        log.push(`onCancel ${(reason as Error).name}`);
      });
      log.push("returned?!");
    } finally {
      log.push("finally");
    }
  });
  await sleep(0);
  log.push("kill");
  await g.kill();
  log.push(g.value instanceof GreenletExit ? "killed" : String(g.value));
  rejectRaw(new Error("late")); // never unhandled, never reported
  await sleep(1);
  assert.deepEqual(log, ["kill", "onCancel GreenletExit", "finally", "killed"]);
});

test.virtual("cancellable: a withTimeout deadline rejects with the Timeout and calls onCancel with it", async () => {
  const log: string[] = [];
  const raw = deferred<string>();
  await assert.rejects(
    withTimeout(
      10,
      () =>
        cancellable(raw.promise, (reason) => {
          log.push(`onCancel ${reason instanceof Timeout} @${getHub().now()}`);
        }),
    ),
    Timeout,
  );
  raw.resolve("late");
  assert.deepEqual(log, ["onCancel true @10"]);
});

test("cancellable: a promise that settled first wins; onCancel is not called; the kill lands at the next switch point", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    const v = await cancellable(
      Promise.resolve("value"),
      () => log.push("onCancel?!"),
    );
    log.push(`got ${v}`);
    await sleep(0);
    log.push("after?!");
  });
  await sleep(0); // g is waiting for the settled promise's turn
  const killed = g.kill();
  await killed;
  log.push(g.value instanceof GreenletExit ? "killed" : String(g.value));
  assert.deepEqual(log, ["got value", "killed"]);
});

test("cancellable: its rejection passes through; it is a switch point that run info and wait() see", async () => {
  const raw = deferred<number>();
  const g = spawn(() => cancellable(raw.promise));
  await sleep(0);
  assert.match(formatRunInfo(), /waiting on cancellable/);
  const done = wait([g]);
  raw.resolve(7);
  assert.deepEqual(await done, [g]);
  assert.equal(g.value, 7);
  await assert.rejects(
    cancellable(Promise.reject(new RangeError("driver"))),
    RangeError,
  );
});

test("cancellable: in a scope cancelled already, it rejects at once and still calls onCancel", async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      await sleep(10_000);
    } catch {
      // a kill caught: the greenlet stays cancelled
      await cancellable(
        new Promise(() => {}),
        (reason) => log.push(`onCancel ${(reason as Error).name}`),
      ).catch((e) => log.push(`rejected ${(e as Error).name}`));
    }
  });
  await sleep(0);
  await g.kill();
  await sleep(0);
  assert.deepEqual(log, ["onCancel GreenletExit", "rejected GreenletExit"]);
});

test("cancellable: an onCancel that throws is reported as the greenlet's error; the wait still rejects with the kill", async () => {
  await capturingErrors(async (errors) => {
    const g = spawn(async function driver() {
      await cancellable(new Promise(() => {}), () => {
        throw new Error("close failed");
      });
    });
    await sleep(0);
    await g.kill();
    assert.ok(g.value instanceof GreenletExit);
    assert.deepEqual(errors, ["driver: Error: close failed"]);
  });
});

test("cancellable: bad arguments throw at once", () => {
  assert.throws(
    () => cancellable(42 as unknown as Promise<number>),
    {
      name: "TypeError",
      message:
        "Cannot await cancellable: promise must be a promise or thenable, received 42",
    },
  );
  assert.throws(
    () =>
      cancellable(
        Promise.resolve(1),
        "close" as unknown as (reason: unknown) => void,
      ),
    {
      name: "TypeError",
      message:
        'Cannot await cancellable: onCancel must be a function, received "close"',
    },
  );
});

// ---- moveOnAfter / failAfter / CancelScope ----

test.virtual("moveOnAfter: nested scopes with equal deadlines: the outer one catches, the inner one's passes through uncaught", async () => {
  const log: string[] = [];
  let inner!: CancelScope;
  let outer!: CancelScope;
  const r = await moveOnAfter(100, async (o) => {
    outer = o;
    await moveOnAfter(100, async (i) => {
      inner = i;
      assert.equal(i.deadline, o.deadline);
      await sleep(1000);
    });
    log.push("after inner?!");
  });
  log.push(`r=${r} at ${getHub().now()}`);
  log.push(
    `outer called=${outer.cancelCalled} caught=${outer.cancelledCaught}`,
  );
  log.push(
    `inner called=${inner.cancelCalled} caught=${inner.cancelledCaught}`,
  );
  assert.deepEqual(log, [
    "r=undefined at 100",
    "outer called=true caught=true",
    "inner called=true caught=false",
  ]);
});

test.virtual("moveOnAfter: nested, the inner deadline first: the inner catches, the outer body goes on", async () => {
  const log: string[] = [];
  const r = await moveOnAfter(100, async (o) => {
    await moveOnAfter(50, async (i) => {
      await sleep(1000);
      log.push(`inner caught=${i.cancelledCaught}`);
    }).then((v) => log.push(`inner -> ${v}`));
    log.push(
      `outer still running at ${getHub().now()}, caught=${o.cancelledCaught}`,
    );
    return "outer done";
  });
  assert.deepEqual(log, [
    "inner -> undefined",
    "outer still running at 50, caught=false",
  ]);
  assert.equal(r, "outer done");
});

test.virtual("moveOnAfter: an outer cancel() passes through an inner scope without marking it caught", async () => {
  const log: string[] = [];
  let inner!: CancelScope;
  const r = await moveOnAfter(Infinity, async (outer) => {
    try {
      await moveOnAfter(1000, async (i) => {
        inner = i;
        await sleep(10);
        outer.cancel();
        await sleep(10);
        log.push("not reached");
      });
    } catch (e) {
      log.push(
        `inner rejected with ${(e as Error).name} ${(e as Error).message}`,
      );
      throw e;
    }
    log.push("after inner?!");
  }).then((v) => v, (e) => `rejected ${e}`);
  log.push(
    `r=${r}; inner called=${inner.cancelCalled} caught=${inner.cancelledCaught}`,
  );
  assert.deepEqual(log, [
    "inner rejected with Timeout Infinity ms",
    "r=undefined; inner called=false caught=false",
  ]);
});

test.virtual("CancelScope.deadline: moved later, then earlier, while the body waits", async () => {
  const log: string[] = [];
  let scope!: CancelScope;
  const waiter = spawn(async () => {
    const r = await moveOnAfter(100, async (s) => {
      scope = s;
      await sleep(10_000);
      return "slept";
    });
    log.push(
      `moved on at ${getHub().now()} with ${r}, caught=${scope.cancelledCaught}`,
    );
  });
  await sleep(50);
  assert.equal(scope.deadline, 100);
  scope.deadline = 300; // later: 100 passes quietly
  await sleep(100);
  log.push(`at ${getHub().now()}: called=${scope.cancelCalled}`);
  scope.deadline = 200; // earlier, still ahead
  await waiter.join();
  assert.deepEqual(log, [
    "at 150: called=false",
    "moved on at 200 with undefined, caught=true",
  ]);
  assert.equal(scope.deadline, 200);
});

test.virtual("CancelScope.deadline: set in the past cancels at once; set to Infinity disarms", async () => {
  const log: string[] = [];
  await moveOnAfter(100, async (s) => {
    s.deadline = Infinity;
    await sleep(500);
    log.push(`survived to ${getHub().now()}`);
    s.deadline = 0;
    await sleep(500);
    log.push("not reached");
  }).then((v) => log.push(`-> ${v} at ${getHub().now()}`));
  assert.deepEqual(log, ["survived to 500", "-> undefined at 500"]);
  await moveOnAfter(1, (s) => {
    assert.throws(
      () => (s.deadline = "soon" as unknown as number),
      /^TypeError: Cannot set deadline: deadline must be a number of hub-clock milliseconds, received "soon"$/,
    );
  });
});

test.virtual("moveOnAfter { shield: true }: a kill does not reach the body, its own deadline does; the kill lands after", async () => {
  const log: string[] = [];
  let scope!: CancelScope;
  const g = spawn(async () => {
    try {
      const r = await moveOnAfter(200, async (s) => {
        scope = s;
        await sleep(100);
        log.push(`shielded sleep done at ${getHub().now()}`);
        await sleep(1000);
        log.push("not reached");
      }, { shield: true });
      log.push(`moved on at ${getHub().now()} (${r}), shield=${scope.shield}`);
      await sleep(1);
      log.push("not reached either");
    } catch (e) {
      log.push(`then ${(e as Error).name} at ${getHub().now()}`);
      throw e;
    }
  });
  await sleep(10);
  await g.kill();
  assert.ok(g.value instanceof GreenletExit);
  assert.deepEqual(log, [
    "shielded sleep done at 100",
    "moved on at 200 (undefined), shield=true",
    "then GreenletExit at 200",
  ]);
  assert.equal(scope.cancelledCaught, true);
});

test.virtual("moveOnAfter { shield: true }: an outer scope's deadline does not reach it; unshielded it would", async () => {
  const log: string[] = [];
  for (const shield of [true, false]) {
    await moveOnAfter(10, async () => {
      await moveOnAfter(Infinity, async (inner) => {
        await sleep(50).catch((e) => {
          log.push(`${shield}: ${(e as Error).name} at ${getHub().now()}`);
          throw e;
        });
        log.push(
          `${shield}: slept to ${getHub().now()}, caught=${inner.cancelledCaught}`,
        );
      }, { shield });
    });
  }
  assert.deepEqual(log, [
    "true: slept to 50, caught=false",
    "false: Timeout at 60",
  ]);
});

test.virtual("CancelScope.cancel() from another greenlet: the reason reaches the body and the signal; moveOnAfter(Infinity) moves on", async () => {
  const log: string[] = [];
  let scope: CancelScope | undefined;
  const canceller = spawn(async () => {
    await sleep(30);
    log.push("cancel");
    scope!.cancel(new Error("user pressed stop"));
    scope!.cancel(new Error("second call ignored"));
  });
  const r = await moveOnAfter(Infinity, async (s) => {
    scope = s;
    assert.equal(s.deadline, Infinity);
    s.signal.addEventListener(
      "abort",
      () => log.push(`abort: ${(s.signal.reason as Error).message}`),
    );
    try {
      await sleep(10_000);
    } catch (e) {
      log.push(`body saw: ${(e as Error).message} at ${getHub().now()}`);
      throw e;
    }
  });
  await canceller.join();
  log.push(
    `r=${r} called=${scope!.cancelCalled} caught=${scope!.cancelledCaught}`,
  );
  assert.deepEqual(log, [
    "cancel",
    "abort: user pressed stop",
    "body saw: user pressed stop at 30",
    "r=undefined called=true caught=true",
  ]);
});

test.virtual("moveOnAfter: completion wins at the deadline instant; a body that catches the cancellation and returns keeps its value", async () => {
  const log: string[] = [];
  // a sleep armed before the scope's timer, due at the same instant, completes first
  const first = spawn(async () => {
    const r = await moveOnAfter(Infinity, async (s) => {
      const nap = sleep(100);
      s.deadline = getHub().now() + 100;
      await nap;
      log.push(`body woke at ${getHub().now()}, called=${s.cancelCalled}`);
      return "done";
    });
    log.push(`-> ${r}`);
  });
  await first.join();
  let scope!: CancelScope;
  const r2 = await moveOnAfter(10, async (s) => {
    scope = s;
    try {
      await sleep(100);
    } catch {
      return "fallback";
    }
  });
  log.push(
    `-> ${r2}, caught=${scope.cancelledCaught}, called=${scope.cancelCalled}`,
  );
  assert.deepEqual(log, [
    "body woke at 100, called=true",
    "-> done",
    "-> fallback, caught=false, called=true",
  ]);
});

test.virtual("failAfter: rejects with the scope's Timeout when cancelled; an error of the body passes as it is", async () => {
  const log: string[] = [];
  let scope!: CancelScope;
  await failAfter(25, async (s) => {
    scope = s;
    await sleep(100);
  }).catch((e) =>
    log.push(
      `${e.name} ${
        (e as Timeout).ms
      } at ${getHub().now()}, caught=${scope.cancelledCaught}`,
    )
  );
  await failAfter(Infinity, (s) => {
    s.cancel(new Error("by hand"));
    return sleep(1);
  }).catch((e) => log.push(`${e.name} ${(e as Timeout).ms}`));
  await failAfter(25, () => {
    throw new RangeError("bad input");
  }).catch((e) => log.push(`${e.name}`));
  assert.equal(await failAfter(25, () => "quick"), "quick");
  assert.deepEqual(log, [
    "Timeout 25 at 25, caught=true",
    "Timeout Infinity",
    "RangeError",
  ]);
});

test("moveOnAfter / failAfter: argument errors are thrown at once", () => {
  assert.throws(
    () => moveOnAfter(-1, () => {}),
    /^RangeError: Cannot run moveOnAfter: ms must be ≥ 0, received -1$/,
  );
  assert.throws(
    () => failAfter("5" as unknown as number, () => {}),
    /^TypeError: Cannot run failAfter: ms must be a number of milliseconds, received "5"$/,
  );
  assert.throws(
    () => moveOnAfter(5, null as unknown as () => void),
    /^TypeError: Cannot run moveOnAfter: fn must be a function, received null$/,
  );
  assert.throws(
    () =>
      moveOnAfter(
        5,
        () => {},
        { sheild: true } as unknown as { shield: boolean },
      ),
    /^TypeError: Cannot run moveOnAfter: unknown option "sheild"/,
  );
  assert.throws(
    () => moveOnAfter(5, () => {}, { shield: 1 as unknown as boolean }),
    /^TypeError: Cannot run moveOnAfter: shield must be a boolean, received 1$/,
  );
});

test("moveOnAfter: a body away in a raw await is detached when cancelled; run info names the scope", async () => {
  const raw = deferred<string>();
  let scope!: CancelScope;
  let info = "";
  const g = spawn(async () => {
    await moveOnAfter(Infinity, async (s) => {
      scope = s;
      await raw.promise;
    });
    info = formatRunInfo();
  });
  await sleep(5);
  scope.cancel();
  await g.join();
  assert.match(
    info,
    /running; a moveOnAfter\(Infinity ms\) body detached when it was cancelled is away in an await the hub does not own$/m,
  );
  assert.equal(scope.cancelledCaught, true);
  raw.resolve("late");
  await sleep(1);
});

test.virtual("a kill passes through a moveOnAfter scope without marking it caught; withTimeout nests by the same rule", async () => {
  const log: string[] = [];
  let scope!: CancelScope;
  const g = spawn(async () => {
    await moveOnAfter(1000, async (s) => {
      scope = s;
      await sleep(500);
    }).catch((e) => {
      log.push(`moveOnAfter rejected with ${(e as Error).name}`);
      throw e;
    });
    log.push("not reached");
  });
  await sleep(10);
  await g.kill();
  log.push(`called=${scope.cancelCalled} caught=${scope.cancelledCaught}`);
  // equal deadlines: the outer withTimeout's Timeout passes through the inner
  let innerError: unknown;
  const outerError = await withTimeout(
    100,
    () =>
      withTimeout(100, () => sleep(1000)).catch((e) => {
        innerError = e;
        throw e;
      }),
  ).catch((e) => e);
  assert.ok(outerError instanceof Timeout);
  log.push(
    `inner rejected with the ${
      innerError === outerError ? "outer" : "inner"
    }'s Timeout; outer: ${outerError.ms} ms`,
  );
  assert.deepEqual(log, [
    "moveOnAfter rejected with GreenletExit",
    "called=false caught=false",
    "inner rejected with the outer's Timeout; outer: 100 ms",
  ]);
});

test.virtual("moveOnAfter: equal deadlines with the inner timer first: the inner's cancellation gives way to the outer's, which catches", async () => {
  const log: string[] = [];
  let inner!: CancelScope;
  let outer!: CancelScope;
  await moveOnAfter(Infinity, async (o) => {
    outer = o;
    await moveOnAfter(100, async (i) => {
      inner = i;
      o.deadline = i.deadline; // armed after the inner's: fires second
      await sleep(1000).catch((e) => {
        log.push(
          `body woke by the ${e === inner.signal.reason ? "inner" : "outer"}'s`,
        );
        throw e;
      });
    });
    log.push("after inner?!");
  });
  log.push(
    `outer caught=${outer.cancelledCaught}, inner caught=${inner.cancelledCaught} called=${inner.cancelCalled}`,
  );
  assert.deepEqual(log, [
    "body woke by the inner's",
    "outer caught=true, inner caught=false called=true",
  ]);
});
