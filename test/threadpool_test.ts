/**
 * ThreadPool: results and errors round-trip; `size` bounds concurrency
 * exactly; a kill or Timeout of the waiter drops a queued task and aborts a
 * running one (its signal seen on the thread); a task ignoring its signal
 * has its thread terminated and replaced; `close` waits, then terminates.
 * The tasks (testdata/pool_tasks.ts) log starts and ends into a
 * SharedArrayBuffer: the tests assert exact logs, with no timing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { getHub, sleep, spawn, Timeout, withTimeout } from "../mod.ts";
import { ThreadPool } from "../threadpool.ts";
import { isDeno, test } from "./test_adapter.ts";

const MODULE = pathToFileURL(
  isDeno ? "testdata/pool_tasks.ts" : "npm/testdata/pool_tasks.mjs",
);

/**
 * A pool whose `await using` disposal waits at most 2 s: a failed assertion
 * that leaves a task blocked fails its test instead of hanging the suite.
 */
class TestPool extends ThreadPool {
  override [Symbol.asyncDispose](): Promise<void> {
    return this.close({ timeout: 2000 });
  }
}

function newLog(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * 64));
}

/** The events logged so far. */
function events(log: Int32Array): number[] {
  return [...log.subarray(1, 1 + Atomics.load(log, 0))];
}

/** Waits (polling the hub's clock) until `n` events are logged. */
async function until(log: Int32Array, n: number): Promise<void> {
  while (Atomics.load(log, 0) < n) await sleep(1);
}

function open(gate: Int32Array, k: number): void {
  Atomics.store(gate, k, 1);
  Atomics.notify(gate, k);
}

test("ThreadPool: results and errors (message, name, stack, cause) round-trip", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  assert.equal(pool.size, 1);
  assert.equal(await pool.apply("add", 20, 22), 42);
  const e = await pool.apply("fail", "boom").then(() => null, (e) => e);
  assert.ok(e instanceof Error);
  assert.equal(e.message, "boom");
  assert.match(e.stack!, /at fail .*pool_tasks/);
  assert.ok(e.cause instanceof RangeError);
  assert.equal((e.cause as Error).message, "the cause");
  await assert.rejects(pool.apply("nothing"), {
    name: "TypeError",
    message:
      'Cannot run task "nothing": the module exports no function of that name, received undefined',
  });
  assert.equal(await pool.spawn("add", 1, 2).get(), 3);
});

test("ThreadPool: map, imap and imapUnordered run one task per item", async () => {
  await using pool = new TestPool({ size: 2, module: MODULE });
  const log = newLog();
  const gate = newLog();
  for (let k = 1; k <= 3; k++) open(gate, k);
  assert.deepEqual(await pool.map("double", [1, 2, 3]), [2, 4, 6]);
  const seen: number[] = [];
  for await (const v of pool.imap<number>("double", [4, 5])) seen.push(v);
  for await (const v of pool.imapUnordered<number>("double", [6])) seen.push(v);
  assert.deepEqual(seen, [8, 10, 12]);
  assert.deepEqual(events(log), []);
});

test("ThreadPool: size bounds concurrency exactly; tasks start first in, first out", async () => {
  await using pool = new TestPool({ size: 2, module: MODULE });
  const log = newLog();
  const gate = newLog();
  const results = [1, 2, 3, 4].map((k) => pool.spawn("gated", log, gate, k));
  await until(log, 2);
  for (const k of [1, 2]) {
    open(gate, k);
    await until(log, 2 + 2 * k);
  }
  open(gate, 3);
  await until(log, 7);
  open(gate, 4);
  await until(log, 8);
  const starts = events(log).slice(0, 2).sort();
  assert.deepEqual(starts, [1, 2]); // the first two start together
  assert.deepEqual(events(log).slice(2), [-1, 3, -2, 4, -3, -4]);
  for (const [i, r] of results.entries()) assert.equal(await r.get(), i + 1);
});

test("ThreadPool: a kill of the waiter drops its queued task", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const log = newLog();
  const gate = newLog();
  const first = pool.spawn("gated", log, gate, 1);
  await until(log, 1);
  const g = spawn(() => pool.apply("gated", log, gate, 2));
  await sleep(0);
  assert.equal(String(pool), "ThreadPool(size=1, running=1, queued=1)");
  g.kill();
  await g.join();
  assert.equal(String(pool), "ThreadPool(size=1, running=1, queued=0)");
  open(gate, 1);
  open(gate, 2);
  assert.equal(await first.get(), 1);
  assert.equal(await pool.apply("add", 1, 1), 2);
  assert.deepEqual(events(log), [1, -1]);
});

test("ThreadPool: a kill or Timeout of the waiter aborts its running task (signal seen in the worker)", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const log = newLog();
  const g = spawn(() => pool.apply("abortable", log, 1));
  await until(log, 1);
  g.kill();
  await g.join();
  await until(log, 2);
  const e = await withTimeout(5, () => pool.apply("abortable", log, 2)).then(
    () => null,
    (e) => e,
  );
  assert.ok(e instanceof Timeout);
  await until(log, 4);
  assert.deepEqual(events(log), [1, -1, 2, -2]);
  assert.equal(await pool.apply("add", 2, 3), 5);
});

test("ThreadPool: a task ignoring its signal has its thread terminated after graceMs, and the pool works on", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE, graceMs: 10 });
  const log = newLog();
  const g = spawn(() => pool.apply("busy", log, 1));
  await until(log, 1);
  g.kill();
  await g.join();
  assert.equal(await pool.apply("add", 3, 4), 7);
  assert.deepEqual(events(log), [1]);
});

test("ThreadPool: close waits for the submitted tasks, then terminates; close({ timeout }) terminates a task still running", async () => {
  const log = newLog();
  const gate = newLog();
  const pool = new ThreadPool({ size: 1, module: MODULE });
  const r = pool.spawn("gated", log, gate, 1);
  await until(log, 1);
  const closing = spawn(() => pool.close());
  await sleep(0);
  assert.throws(() => pool.apply("add", 1, 1), {
    message: "Cannot apply on ThreadPool: it is closed",
  });
  open(gate, 1);
  await closing.join();
  assert.equal(closing.successful(), true);
  assert.equal(await r.get(), 1);

  const pool2 = new ThreadPool({ size: 1, module: MODULE });
  const busy = pool2.spawn("busy", log, 2);
  await until(log, 3);
  await pool2.close({ timeout: 5 });
  await assert.rejects(busy.get(), { message: "ThreadPool closed" });
  assert.deepEqual(events(log), [1, -1, 2]);
});

test("ThreadPool: argument errors are thrown at once", () => {
  assert.throws(() => new ThreadPool({ size: 0, module: MODULE }), {
    name: "RangeError",
    message:
      "Cannot create ThreadPool: size must be an integer ≥ 1, received 0",
  });
  assert.throws(
    // @ts-expect-error: module is a URL
    () => new ThreadPool({ size: 1, module: 42 }),
    {
      name: "TypeError",
      message:
        "Cannot create ThreadPool: module must be a URL (string or URL) if given, received 42",
    },
  );
  assert.throws(() => new ThreadPool({ size: 1 }).apply("add"), {
    name: "TypeError",
    message:
      'Cannot apply on ThreadPool: without a module, name must be a URL "<module>#<export>", received "add"',
  });
});

test("getHub().threadpool: made on first use (size = the cores), tasks named by URL", async () => {
  const pool = getHub().threadpool;
  assert.equal(getHub().threadpool, pool);
  assert.ok(pool.size >= 1);
  assert.equal(await pool.apply(`${MODULE.href}#add`, 2, 2), 4);
  const url = new URL(MODULE);
  url.hash = "double";
  assert.equal(await pool.apply(url, 21), 42);
  await pool.close();
  assert.equal(pool.closed, true);
  const again = getHub().threadpool;
  assert.notEqual(again, pool);
  assert.equal(again.closed, false);
});
