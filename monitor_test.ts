import assert from "node:assert/strict";
import {
  type BlockingReport,
  formatRunInfo,
  getHub,
  Hub,
  joinAll,
  Semaphore,
  sleep,
  spawn,
  startMonitor,
  stopMonitor,
} from "./mod.ts";
import { test } from "./test_adapter.ts";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // keeps the thread
  }
}

test("the monitor names a greenlet that blocks 200 ms, and not one that blocks 10 ms", async () => {
  const reports: BlockingReport[] = [];
  startMonitor({ maxBlockingTime: 100, report: (r) => void reports.push(r) });
  try {
    await joinAll([
      spawn(async function short() {
        busy(10);
        await sleep(0);
      }),
      spawn(async function long() {
        busy(200);
        await sleep(0);
      }),
    ]);
  } finally {
    stopMonitor();
  }
  assert.deepEqual(reports.map((r) => r.greenlet?.name), ["long"]);
  assert.ok(reports[0].duration >= 200, `duration ${reports[0].duration}`);
  assert.equal(reports[0].maxBlockingTime, 100);
});

test("a greenlet that blocks until it ends is named too", async () => {
  const reports: string[] = [];
  startMonitor({
    maxBlockingTime: 50,
    report: (r) => void reports.push(`${r.greenlet?.name}`),
  });
  try {
    await spawn(function blocker() {
      busy(80);
    }).join();
  } finally {
    stopMonitor();
  }
  assert.deepEqual(reports, ["blocker"]);
});

test("a block that ends at a raw await is still reported, without a greenlet", async () => {
  const reports: (string | null)[] = [];
  startMonitor({
    maxBlockingTime: 100,
    report: (r) => void reports.push(r.greenlet?.name ?? null),
  });
  try {
    await spawn(async function hidden() {
      busy(200);
      // not a switch point: the monitor's own timer sees the block
      await new Promise<void>((resolve) => setTimeout(resolve, 50));
      await sleep(0);
    }).join();
  } finally {
    stopMonitor();
  }
  assert.deepEqual(reports, [null]);
});

test("formatRunInfo draws the greenlet tree with states, waits and spawn sites", async () => {
  startMonitor({ report: () => {} }); // records spawn sites
  const sem = new Semaphore(0);
  let child: ReturnType<typeof spawn> | undefined;
  const parent = spawn(async function parent() {
    child = spawn(async function child() {
      await sem.acquire();
    });
    await child.join();
  });
  const sleeper = spawn(async function sleeper() {
    await sleep(10_000);
  });
  const main = joinAll([parent, sleeper]);
  await sleep(0);
  await sleep(0);
  const text = formatRunInfo();
  assert.equal(text, getHub().runInfo());
  const lines = text
    .replace(/ — spawned at .*monitor_test\.(ts|mjs|cjs):\d+:\d+/g, " — here")
    .replace(/\d+\.\d ms/g, "T ms")
    .split("\n");
  assert.deepEqual(lines, [
    '<Greenlet "main" #0> waiting on joinAll of 2 greenlets (0 done)',
    `├─ <Greenlet "parent" #${parent.id}> waiting on join of <Greenlet "child" #${
      child!.id
    }> — here`,
    `│  └─ <Greenlet "child" #${
      child!.id
    }> waiting on Semaphore(counter=0, waiters=1) — here`,
    `└─ <Greenlet "sleeper" #${sleeper.id}> waiting on sleep until T ms — here`,
  ]);
  stopMonitor();
  sem.release();
  await sleeper.kill();
  await main;
  assert.equal(formatRunInfo(), "");
});

test("spawn sites point at the caller, through Hub#spawn too", async () => {
  startMonitor({ report: () => {} });
  const hub = new Hub();
  const viaHub = hub.spawn(async function viaHub() {
    await sleep(10_000);
  });
  await sleep(0);
  const lines = hub.runInfo()
    .replace(/ — spawned at .*monitor_test\.(ts|mjs|cjs):\d+:\d+$/gm, " — here")
    .replace(/\d+\.\d ms/g, "T ms")
    .split("\n");
  stopMonitor();
  assert.deepEqual(lines, [
    '<Greenlet "main" #0> running',
    `└─ <Greenlet "viaHub" #${viaHub.id}> waiting on sleep until T ms — here`,
  ]);
  await viaHub.kill();
});

test("bad monitor options throw at once", () => {
  assert.throws(() => startMonitor({ maxBlockingTime: -1 }), {
    name: "RangeError",
    message: "Cannot start monitor: maxBlockingTime must be ≥ 0, received -1",
  });
  assert.throws(() => startMonitor({ maxBlockingTime: 0 }), RangeError);
  assert.throws(() => startMonitor({ report: 5 as never }), {
    name: "TypeError",
    message: "Cannot start monitor: report must be a function, received 5",
  });
});
