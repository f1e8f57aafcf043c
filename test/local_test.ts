import assert from "node:assert/strict";
import {
  getCurrent,
  joinAll,
  local,
  sleep,
  spawn,
  withTimeout,
} from "../mod.ts";
import { runFixture, test } from "./test_adapter.ts";

test("local: each greenlet sees its own value across switches", async () => {
  const slot = local<string>();
  const log: string[] = [];
  const worker = async (name: string) => {
    log.push(`${name} starts with ${slot.value}`);
    slot.value = name;
    await sleep(0);
    log.push(`${name} sees ${slot.value}`);
  };
  await joinAll([spawn(worker, "a"), spawn(worker, "b")]);
  assert.deepEqual(log, [
    "a starts with undefined",
    "b starts with undefined",
    "a sees a",
    "b sees b",
  ]);
});

test("local: init runs once per greenlet, on its first read; main has its own", async () => {
  let made = 0;
  const slot = local(() => ({ n: ++made }));
  const mainValue = slot.value;
  assert.equal(mainValue.n, 1);
  const g = spawn(() => {
    const first = slot.value;
    first.n += 100;
    return [first === slot.value, slot.value.n];
  });
  assert.deepEqual(await g.get(), [true, 102]);
  assert.equal(slot.value, mainValue);
  assert.equal(made, 2);
});

test("local: a child does not inherit its parent's value; withTimeout keeps the greenlet's", async () => {
  const slot = local<string>(() => "fresh");
  const g = spawn(async () => {
    slot.value = "parent";
    const child = spawn(() => slot.value);
    const inScope = await withTimeout(100, () => slot.value);
    return [await child.get(), inScope, slot.value];
  });
  assert.deepEqual(await g.get(), ["fresh", "parent", "parent"]);
});

test("local: link callbacks run as main and see main's value", async () => {
  const slot = local<string>(() => "main's");
  const g = spawn(() => {
    slot.value = "greenlet's";
  });
  const seen: string[] = [];
  g.link(() => seen.push(`${getCurrent().name}: ${slot.value}`));
  await g.join();
  await sleep(0);
  assert.deepEqual(seen, ["main: main's"]);
});

test("local: bad init throws TypeError", () => {
  assert.throws(() => local(5 as never), {
    name: "TypeError",
    message: "Cannot create local: init must be a function, received 5",
  });
});

test("local: a dead greenlet's value is dropped though the greenlet is still referenced", async () => {
  const { output, code } = await runFixture("local_gc", {
    deno: ["--v8-flags=--expose-gc"],
    node: ["--expose-gc"],
  });
  assert.equal(code, 0, output);
  assert.equal(output.trim(), "collected true");
});

test(
  "an ended greenlet is collectable while a raw callback in its context still waits; the callback then runs as main",
  async () => {
    const { output, code } = await runFixture("ended_context_gc", {
      deno: ["-A", "--v8-flags=--expose-gc"],
      node: ["--expose-gc"],
    });
    assert.equal(code, 0, output);
    assert.deepEqual(output.trim().split("\n"), [
      "kept: ended true, collected false",
      "kept: the flow runs as kept",
      "dropped: collected true",
      "dropped: the flow runs as main",
    ]);
  },
  { esmOnly: true },
); // one child process for both builds
