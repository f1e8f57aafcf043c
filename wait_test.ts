import assert from "node:assert/strict";
import { type Greenlet, iwait, sleep, spawn, wait } from "./mod.ts";
import { test } from "./test_adapter.ts";

test("wait() with no objects resolves when every greenlet is done", async () => {
  const log: string[] = [];
  spawn(async () => {
    await sleep(5);
    log.push("slow");
  });
  spawn(async () => {
    await sleep(1);
    log.push("fast");
  });
  assert.equal(await wait(), true);
  log.push("quiet");
  assert.deepEqual(log, ["fast", "slow", "quiet"]);
});

test("wait() with a timeout returns false while a greenlet still sleeps", async () => {
  const g = spawn(() => sleep(200));
  assert.equal(await wait(undefined, { timeout: 5 }), false);
  assert.equal(g.dead, false);
  await g.kill();
});

test("wait(objects) returns what got ready in order; count stops early", async () => {
  const a = spawn(() => sleep(15));
  const b = spawn(() => sleep(5));
  const c = spawn(() => sleep(10));
  const first = await wait([a, b, c], { count: 2 });
  assert.deepEqual(first, [b, c]);
  const rest = await wait([a, b, c]);
  assert.deepEqual(rest, [b, c, a]);
});

test("iwait yields in completion order and stops at the timeout", async () => {
  const a = spawn(() => sleep(100));
  const b = spawn(() => sleep(2));
  const got: Greenlet[] = [];
  for await (const g of iwait([a, b], { timeout: 30 })) got.push(g);
  assert.deepEqual(got, [b]);
  await a.kill();
});
