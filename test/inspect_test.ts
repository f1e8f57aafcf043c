// How the library's objects print on both runtimes: one line for the
// classes with internal state, message and stack for the errors.
import assert from "node:assert/strict";
import { inspect } from "node:util";
import {
  AsyncResult,
  BoundedSemaphore,
  Channel,
  DummySemaphore,
  Event,
  getHub,
  Greenlet,
  GreenletExit,
  Group,
  Hub,
  JoinableQueue,
  joinAll,
  LifoQueue,
  LoopExit,
  NotOwnerError,
  Pool,
  PriorityQueue,
  Queue,
  RLock,
  Semaphore,
  setSiteMode,
  sleep,
  spawn,
  Timeout,
} from "../mod.ts";
import { errorsOf, isDeno, test } from "./test_adapter.ts";

/** `file:///…/inspect_test.ts:32:13` → `here:32:13` (`here:L:C` built: other lines). */
function sites(text: string): string {
  return text.replace(
    /(?:file:\/\/)?\/[^\s()]*\/inspect_test\.(?:ts|mjs|cjs):(\d+):(\d+)/g,
    (_, line, col) => isDeno ? `here:${line}:${col}` : "here:L:C",
  );
}

function here(line: number, col: number): string {
  return isDeno ? `here:${line}:${col}` : "here:L:C";
}

test("a greenlet inspects as one line: its name, id and call, state, spawn site", async () => {
  const previous = setSiteMode("all");
  const g = spawn(function crawl(_n: number) {}, 7);
  setSiteMode(previous);
  const text = inspect(g);
  const site = here(47, 13);
  assert.equal(
    sites(text),
    `<Greenlet "crawl" #${g.id}: crawl(7)> scheduled to start — spawned at ${site}`,
  );
  assert.equal(text.split("\n").length, 1);
  assert.equal(String(g), `<Greenlet "crawl" #${g.id}: crawl(7)>`); // messages
  assert.equal(
    sites(inspect({ g }, { breakLength: Infinity })),
    `{ g: <Greenlet "crawl" #${g.id}: crawl(7)> scheduled to start — spawned at ${site} }`,
  );
  assert.equal(inspect(getHub().main), '<Greenlet "main" #0> running');
  await g.join();
  assert.equal(
    sites(inspect(g)),
    `<Greenlet "crawl" #${g.id}: crawl(7)> dead, returned undefined — spawned at ${site}`,
  );
});

test("a greenlet inspects with its state: waiting, away, dead with its result, exception or kill", async () => {
  const previous = setSiteMode("off"); // no sites: the states alone
  const errors = await errorsOf(async () => {
    const gate = new Event();
    const waiting = spawn(function waiting() {
      return gate.wait();
    });
    let wake!: () => void;
    const away = spawn(async function away() {
      await new Promise<void>((r) => wake = r); // a promise the hub does not own
      return { n: 1 };
    });
    const failing = spawn(function failing() {
      throw new TypeError("bad port\nsecond line");
    });
    const killed = spawn(() => sleep(10_000));
    const killedWith = spawn(() => sleep(10_000));
    await sleep(0);
    await sleep(0);
    assert.deepEqual([waiting, away].map((g) => inspect(g)), [
      `<Greenlet "waiting" #${waiting.id}: waiting()> waiting on Event(clear)`,
      `<Greenlet "away" #${away.id}: away()> away in an await the hub does not own`,
    ]);
    await killed.kill();
    await killedWith.kill(new RangeError("stop"));
    gate.set();
    wake();
    await joinAll([waiting, away, failing], { raiseError: false });
    assert.deepEqual(
      [waiting, away, failing, killed, killedWith].map((g) =>
        inspect(g).replace(/^<Greenlet [^>]*> /, "")
      ),
      [
        "dead, returned true",
        "dead, returned { n: 1 }",
        "dead, failed with TypeError: bad port",
        "dead, killed (GreenletExit)",
        "dead, killed by RangeError: stop",
      ],
    );
  }).finally(() => setSiteMode(previous));
  assert.deepEqual(errors, [
    "failing: TypeError: bad port\nsecond line",
  ]);
});

test("a greenlet's call shows each argument as gevent does, cut to 50 characters", async () => {
  class Point {
    x = 1;
  }
  const long = "x".repeat(80);
  const cases: [unknown[], string][] = [
    [[], "f()"],
    [
      ["a", 1, -0, 2n, true, null, undefined],
      'f("a", 1, -0, 2n, true, null, undefined)',
    ],
    [
      [Symbol("s"), function named() {}, () => 0],
      "f(Symbol(s), [Function named], [Function (anonymous)])",
    ],
    [
      [[1, [2], {}], { url: "/a", "a-b": [] }],
      'f([1, […], {}], { url: "/a", "a-b": [] })',
    ],
    [
      [[1, 2, 3, 4, 5, 6, 7], new Point()],
      "f([1, 2, 3, 4, 5, 6, …], Point { x: 1 })",
    ],
    [
      [new Map([[1, 2]]), new Set(), new Uint8Array(3)],
      "f(Map(1), Set(0), Uint8Array(3))",
    ],
    [
      [new Semaphore(2), new Error("boom")],
      "f(Semaphore(counter=2, waiters=0), Error: boom)",
    ],
    [[long], `f("${"x".repeat(48)}…)`],
    [[Object.create(null)], "f({})"],
  ];
  const f = (..._args: unknown[]) => {};
  const gs = cases.map(([args]) => new Greenlet(f, ...args));
  for (const [i, g] of gs.entries()) {
    g.name = "g";
    assert.equal(String(g), `<Greenlet "g" #${g.id}: ${cases[i][1]}>`);
  }
  const anon = spawn(() => 1);
  assert.equal(
    String(anon),
    `<Greenlet "Greenlet-${anon.id}" #${anon.id}: (anonymous)()>`,
  );
  const throwing = new Proxy({}, {
    ownKeys() {
      throw new Error("trap");
    },
  });
  assert.equal(
    String(new Greenlet(f, throwing)),
    `<Greenlet "f" #${anon.id + 1}: f([object])>`,
  );
  await anon.join();
});

test("two Semaphores made on different lines inspect differently: each names where it was made", () => {
  const previous = setSiteMode("all");
  try {
    const a = new Semaphore(1);
    const b = new Semaphore(1);
    const q = new Queue();
    assert.deepEqual([a, b, q].map((o) => sites(inspect(o))), [
      `Semaphore(counter=1, waiters=0) — created at ${here(175, 15)}`,
      `Semaphore(counter=1, waiters=0) — created at ${here(176, 15)}`,
      `Queue(items=0) — created at ${here(177, 15)}`,
    ]);
    assert.equal(String(a), "Semaphore(counter=1, waiters=0)"); // messages
  } finally {
    setSiteMode(previous);
  }
});

test("every public class with internal state inspects as its toString() (no site recorded)", async () => {
  const previous = setSiteMode("off");
  const hub = new Hub();
  const objects: object[] = [
    hub,
    new Semaphore(2),
    new BoundedSemaphore(1),
    new RLock(),
    new DummySemaphore(),
    new Event(),
    new AsyncResult(),
    new Queue(3),
    new LifoQueue(),
    new PriorityQueue(),
    new JoinableQueue(),
    new Channel(),
    new Group(),
    new Pool(4),
  ];
  setSiteMode(previous);
  for (const o of objects) assert.equal(inspect(o), String(o));
  assert.deepEqual(objects.map(String), [
    "<Hub: 0 greenlets alive>",
    "Semaphore(counter=2, waiters=0)",
    "BoundedSemaphore(counter=1, waiters=0)",
    "RLock(owner=none, depth=0, waiters=0)",
    "DummySemaphore()",
    "Event(clear)",
    "AsyncResult(pending)",
    "Queue(maxsize=3, items=0)",
    "LifoQueue(items=0)",
    "PriorityQueue(items=0)",
    "JoinableQueue(items=0)",
    "Channel(maxsize=0, items=0)",
    "Group(size=0)",
    "Pool(size=0, capacity=4)",
  ]);
  const g = hub.spawn(() => sleep(1000));
  await sleep(0);
  assert.equal(inspect(hub), "<Hub: 1 greenlet alive>");
  await g.kill();
});

test("errors inspect as their stack: no internal fields, the cause kept", () => {
  const blocked = [{ greenlet: getHub().main, waitingOn: "Event(clear)" }];
  const errors: Error[] = [
    new LoopExit(blocked),
    new LoopExit("x"),
    new Timeout(100),
    new Timeout(5, new Error("custom")),
    new GreenletExit(),
    new NotOwnerError(null, getHub().main),
  ];
  for (const e of errors) {
    assert.deepEqual(Object.keys(e).filter((k) => k !== "name"), []);
    assert.equal(inspect(e), e.stack);
  }
  const loopExit = errors[0] as LoopExit;
  assert.deepEqual(loopExit.blocked, blocked); // still there, not enumerable
  assert.equal((errors[2] as Timeout).ms, 100);
  const caused = new LoopExit("y");
  caused.cause = new Error("why");
  assert.match(inspect(caused), /cause\]?: Error: why/);
});

test("new LoopExit(message) works as gevent's; a bad argument throws at once", () => {
  const e = new LoopExit("custom");
  assert.equal(e.message, "custom");
  assert.equal(e.name, "LoopExit");
  assert.deepEqual(e.blocked, []);
  assert.equal(new LoopExit().message, "This operation would block forever");
  assert.throws(() => new LoopExit(5 as never), {
    name: "TypeError",
    message:
      "Cannot create LoopExit: the argument must be a message or a list of blocked greenlets, received 5",
  });
});
