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
import { ThreadPool, transfer } from "../threadpool.ts";
import { isDeno, runFixture, test } from "./test_adapter.ts";

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

test("ThreadPool: transfer(value, list) moves buffers both ways: the sender's is detached at the call, the result arrives intact", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const MiB16 = 16 * 1024 * 1024;
  const bytes = new Uint8Array(MiB16);
  for (let i = 0; i < MiB16; i += 4096) bytes[i] = 1;
  const sent = pool.apply("sum", transfer(bytes, [bytes.buffer]));
  assert.equal(bytes.byteLength, 0);
  assert.equal(bytes.buffer.byteLength, 0);
  assert.deepEqual(await sent, [MiB16, MiB16 / 4096]);
  const copied = new Uint8Array([1, 2, 3]);
  assert.deepEqual(await pool.apply("sum", copied), [3, 6]);
  assert.equal(copied.byteLength, 3); // not marked: copied, kept

  const out = await pool.apply<Uint8Array>("fill", MiB16);
  assert.ok(out instanceof Uint8Array);
  assert.equal(out.byteLength, MiB16);
  let wrong = 0;
  for (let i = 0; i < MiB16; i++) if (out[i] !== (i & 255)) wrong++;
  assert.equal(wrong, 0);
  assert.equal(await pool.apply("heldLength"), 0); // the thread's is detached

  const items = [new Uint8Array([1, 2]), new Uint8Array([3])];
  assert.deepEqual(
    await pool.map("sum", items.map((b) => transfer(b, [b.buffer]))),
    [[2, 3], [1, 3]],
  );
  assert.deepEqual(items.map((b) => b.byteLength), [0, 0]);
  const buf = new ArrayBuffer(8);
  assert.throws(
    () => pool.apply("sum", transfer(new Uint8Array(buf), [buf, {} as never])),
    (e: Error) =>
      e.name === "TypeError" &&
      e.message.startsWith(
        "Cannot apply on ThreadPool: argument 0 cannot be transferred (",
      ) && e.cause instanceof Error,
  );
  assert.throws(() => transfer(bytes, null as never), {
    name: "TypeError",
    message:
      "Cannot transfer: list must be an array of ArrayBuffers or MessagePorts, received null",
  });
});

test("ThreadPool: a MessagePort passed by transfer reaches the task, which answers on it", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const { port1, port2 } = new MessageChannel();
  const heard = new Promise<string>((resolve) => {
    port1.onmessage = (e) => resolve(e.data);
  });
  try {
    assert.equal(
      await pool.apply("greet", transfer(port2, [port2]), "pool"),
      "sent",
    );
    assert.equal(await heard, "hello pool");
  } finally {
    port1.close();
  }
});

test("ThreadPool: imap pulls its input only in next(), one item per free place, and closes it when left early", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const log: string[] = [];
  function* naturals() {
    try {
      for (let n = 1; n <= 1e6; n++) {
        log.push(`pull ${n}`);
        yield n;
      }
    } finally {
      log.push("input closed");
    }
  }
  for await (const v of pool.imap<number>("double", naturals())) {
    log.push(`got ${v}`);
    if (v === 6) break;
  }
  assert.deepEqual(log, [
    "pull 1",
    "pull 2",
    "got 2",
    "pull 3",
    "got 4",
    "pull 4",
    "got 6",
    "input closed",
  ]);
  assert.equal(await pool.apply("add", 1, 1), 2);
});

test("ThreadPool: imap holds at most maxsize finished results: a slow head stops the pulling", async () => {
  await using pool = new TestPool({ size: 2, module: MODULE });
  const log = newLog();
  const gate = newLog();
  const seen: string[] = [];
  function* items() {
    for (let k = 1; k <= 4; k++) {
      seen.push(`pull ${k}`);
      yield { log, gate, k };
    }
  }
  const it = pool.imap<number>("gatedItem", items(), { maxsize: 1 });
  const consumer = spawn(async () => {
    for await (const k of it) {
      seen.push(`got ${k}`);
      if (k === 1) await sleep(20); // a slow consumer: nothing is pulled
    }
  });
  await until(log, 2);
  open(gate, 2);
  await until(log, 3);
  while (String(pool) !== "ThreadPool(size=2, running=1, queued=0)") {
    await sleep(1);
  }
  await sleep(5);
  assert.deepEqual(seen, ["pull 1", "pull 2"]); // 2 done, held: no pull
  open(gate, 1);
  await until(log, 6); // 3 and 4 started
  open(gate, 3);
  open(gate, 4);
  await consumer.join();
  assert.equal(consumer.successful(), true);
  assert.deepEqual(seen, [
    "pull 1",
    "pull 2",
    "got 1",
    "pull 3",
    "pull 4",
    "got 2",
    "got 3",
    "got 4",
  ]);
});

test("ThreadPool: an item's error is raised at its place and imap goes on; map rejects with it, cancels the rest and closes its input", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  await using it = pool.imap<number>("divide", [1, 0, 2]);
  const out: string[] = [];
  for (;;) {
    try {
      const r = await it.next();
      if (r.done) break;
      out.push(String(r.value));
    } catch (e) {
      out.push(`${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(out, ["10", "RangeError: division by zero", "5"]);
  const unordered: number[] = [];
  for await (const v of pool.imapUnordered<number>("double", [3])) {
    unordered.push(v);
  }
  assert.deepEqual(unordered, [6]);

  const log: string[] = [];
  function* countdown() {
    try {
      for (let n = 2; n > -1e6; n--) {
        log.push(`pull ${n}`);
        yield n;
      }
    } finally {
      log.push("input closed");
    }
  }
  await assert.rejects(pool.map("divide", countdown()), {
    name: "RangeError",
    message: "division by zero",
  });
  assert.deepEqual(log, [
    "pull 2",
    "pull 1",
    "pull 0",
    "pull -1",
    "input closed",
  ]);
  async function* later() {
    yield 5;
    await sleep(1);
    yield 2;
  }
  assert.deepEqual(await pool.map("divide", later()), [2, 5]);
});

test("ThreadPool: a kill of imap's consumer in next() aborts its running task and closes its input", async () => {
  await using pool = new TestPool({ size: 1, module: MODULE });
  const log = newLog();
  const seen: string[] = [];
  function* items() {
    try {
      for (let k = 1; k <= 3; k++) {
        seen.push(`pull ${k}`);
        yield { log, k };
      }
    } finally {
      seen.push("input closed");
    }
  }
  const g = spawn(async () => {
    for await (const _ of pool.imap("abortableItem", items())) {
      seen.push("got one");
    }
  });
  await until(log, 1);
  g.kill();
  await g.join();
  await until(log, 2);
  assert.deepEqual(events(log), [1, -1]);
  assert.deepEqual(seen, ["pull 1", "input closed"]);
  assert.equal(await pool.apply("add", 2, 2), 4);
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
  const pool = new ThreadPool({ size: 1, module: MODULE });
  assert.throws(() => pool.imap("double", [1], { maxsize: 0 }), {
    name: "RangeError",
    message:
      "Cannot imap on ThreadPool: maxsize must be an integer ≥ 1, received 0",
  });
  assert.throws(() => pool.imapUnordered("double", 42 as never), {
    name: "TypeError",
    message:
      "Cannot imapUnordered on ThreadPool: items must be an iterable or an async iterable, received 42",
  });
  assert.throws(() => pool.map("double", null as never), {
    name: "TypeError",
    message:
      "Cannot map on ThreadPool: items must be an iterable or an async iterable, received null",
  });
  assert.throws(() => new ThreadPool({ size: 1 }).apply("add"), {
    name: "TypeError",
    message:
      'Cannot apply on ThreadPool: without a module, name must be a URL "<module>#<export>", received "add"',
  });
  assert.throws(() => new ThreadPool({ size: 1 }).map("add", [1]), {
    name: "TypeError",
    message:
      'Cannot map on ThreadPool: without a module, name must be a URL "<module>#<export>", received "add"',
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

test("getHub().threadpool: a program that used it exits by itself, its hub having closed the pool", async () => {
  const { code, stdout, stderr } = await runFixture("hub_pool_exit", {
    deno: ["--allow-read"],
    timeoutMs: 20_000,
  });
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "add: 3",
    "fail: boom",
    "spin killed: true",
    "at exit, closed: true",
  ]);
});
