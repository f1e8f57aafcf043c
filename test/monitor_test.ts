import assert from "node:assert/strict";
import process from "node:process";
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
} from "../mod.ts";
import { isDeno, runProcess, test } from "./test_adapter.ts";

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

/** `file:///…/monitor_test.ts:12:3` → `here:12:3` (`here:L:C` built: other lines). */
function sited(text: string | null | undefined): string | null | undefined {
  return text == null ? text : text.replace(
    /^(?:file:\/\/)?\/\S*\/monitor_test\.(?:ts|mjs|cjs):(\d+):(\d+)$/,
    (_, line, col) => isDeno ? `here:${line}:${col}` : "here:L:C",
  );
}

function here(line: number, col: number): string {
  return isDeno ? `here:${line}:${col}` : "here:L:C";
}

test("a blocking report names the spawn site, the wait it resumed from and the switch point that ended the block", async () => {
  const reports: BlockingReport[] = [];
  startMonitor({ maxBlockingTime: 50, report: (r) => void reports.push(r) });
  const sem = new Semaphore(0);
  try {
    const g = spawn(async function worker() {
      await sem.acquire();
      busy(80);
      await sleep(0); // the block ends here
      busy(80); // then until it ends
    });
    await sleep(0);
    sem.release();
    await g.join();
  } finally {
    stopMonitor();
  }
  assert.deepEqual(
    reports.map((r) => [
      r.greenlet?.name,
      r.resumedFrom,
      sited(r.switchSite),
      sited(r.spawnSite),
    ]),
    [
      ["worker", "Semaphore(counter=0, waiters=0)", here(66, 13), here(63, 15)],
      ["worker", "sleep(0)", null, here(63, 15)],
    ],
  );
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
    .replace(/\(\d[^)]* left\)/g, "(T left)")
    .split("\n");
  assert.deepEqual(lines, [
    '<Greenlet "main" #0> waiting on joinAll of 2 greenlets (0 done)',
    `├─ <Greenlet "parent" #${parent.id}: parent()> waiting on join of <Greenlet "child" #${
      child!.id
    }: child()> — here`,
    `│  └─ <Greenlet "child" #${
      child!.id
    }: child()> waiting on Semaphore(counter=0, waiters=1) — here`,
    `└─ <Greenlet "sleeper" #${sleeper.id}: sleeper()> waiting on sleep (T left) — here`,
  ]);
  stopMonitor();
  sem.release();
  await sleeper.kill();
  await main;
  assert.equal(formatRunInfo(), "");
});

test("run info shows each wait's time left, relative to the hub's now", async () => {
  let t = 0;
  const hub = new Hub({ clock: { now: () => t } });
  const sem = new Semaphore(0);
  const napper = hub.spawn(async function nap(ms: number) {
    await sleep(ms);
  }, 90 * 60_000);
  const waiters = [250, 3200, 125_000].map((timeout) =>
    hub.spawn(async function acquire(ms: number) {
      await sem.acquire({ timeout: ms });
    }, timeout)
  );
  const forever = hub.spawn(async function forever() {
    await sleep(Infinity);
  });
  await sleep(0);
  t = 200;
  const ids = [napper, ...waiters, forever].map((g) => g.id);
  const lock = "Semaphore(counter=0, waiters=3)";
  assert.deepEqual(hub.runInfo().split("\n"), [
    '<Greenlet "main" #0> running',
    `├─ <Greenlet "nap" #${
      ids[0]
    }: nap(5400000)> waiting on sleep (1.5 h left)`,
    `├─ <Greenlet "acquire" #${
      ids[1]
    }: acquire(250)> waiting on ${lock} (50 ms left)`,
    `├─ <Greenlet "acquire" #${
      ids[2]
    }: acquire(3200)> waiting on ${lock} (3.0 s left)`,
    `├─ <Greenlet "acquire" #${
      ids[3]
    }: acquire(125000)> waiting on ${lock} (2.1 min left)`,
    `└─ <Greenlet "forever" #${ids[4]}: forever()> waiting on sleep forever`,
  ]);
  t = 250;
  assert.match(hub.runInfo(), /acquire\(250\)> waiting on .* \(due now\)$/m);
  await Promise.all([napper, ...waiters, forever].map((g) => g.kill()));
});

test("run info options: all is a boolean", () => {
  assert.equal(formatRunInfo({ all: true }), formatRunInfo());
  assert.throws(() => formatRunInfo({ all: 1 as never }), {
    name: "TypeError",
    message: "Cannot format run info: all must be a boolean, received 1",
  });
  assert.throws(() => getHub().runInfo(5 as never), {
    name: "TypeError",
    message: "Cannot format run info: options must be an object, received 5",
  });
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
    .replace(/\(\d[^)]* left\)/g, "(T left)")
    .split("\n");
  stopMonitor();
  assert.deepEqual(lines, [
    '<Greenlet "main" #0> running',
    `└─ <Greenlet "viaHub" #${viaHub.id}: viaHub()> waiting on sleep (T left) — here`,
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

test("GEVENT_SITES=all|bounded|off sets the site mode when gevent-ts loads; another value is one line on stderr", async () => {
  const seen: string[] = [];
  for (const mode of ["all", "bounded", "off", "some", ""]) {
    const env = { GEVENT_SITES: mode };
    const r = isDeno
      ? await runProcess(
        (globalThis as unknown as { Deno: { execPath(): string } }).Deno
          .execPath(),
        ["run", "--quiet", "--allow-env=GEVENT_SITES", "testdata/sites_env.ts"],
        undefined,
        60_000,
        env,
      )
      : await runProcess(
        process.execPath,
        ["npm/testdata/sites_env.mjs"],
        undefined,
        60_000,
        env,
      );
    assert.equal(r.code, 0, r.output);
    seen.push(`${mode}: ${r.output.trim()}`);
  }
  assert.deepEqual(seen, [
    "all: recorded: 300",
    "bounded: recorded: 200",
    "off: recorded: 0",
    'some: gevent-ts: GEVENT_SITES must be "all", "bounded" or "off", received "some": left "bounded"\nrecorded: 200',
    ": recorded: 200",
  ]);
});
