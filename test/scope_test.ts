import assert from "node:assert/strict";
import {
  cancellable,
  formatRunInfo,
  getHub,
  GreenletExit,
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
