import assert from "node:assert/strict";
import {
  formatRunInfo,
  getCurrent,
  getHub,
  Linkable,
  sleep,
  spawn,
} from "../mod.ts";
import { capturingErrors, killedWhileAway, test } from "./test_adapter.ts";
import { waitContract } from "./test_waits.ts";

/**
 * The smallest waitable: ready while it is up. No wait label, and no
 * `waitResult` override: a wait resolves `undefined` (`"late"` on timeout).
 */
class Bare extends Linkable {
  up = false;
  ready(): boolean {
    return this.up;
  }
  raise(): void {
    this.up = true;
    this.notifyLinks();
  }
  wait(
    options: {
      timeout?: number | undefined;
      signal?: AbortSignal | undefined;
    } = {},
  ) {
    return this.waitReady(options, this.timeoutValue);
  }
  protected get timeoutValue(): unknown {
    return "late";
  }
  override toString(): string {
    return "Bare";
  }
}

/** A flag: a labelled Bare whose wait resolves `true` (`false` on timeout). */
class Flag extends Bare {
  constructor() {
    super("flag");
  }
  protected override get timeoutValue(): unknown {
    return false;
  }
  protected override waitResult(): unknown {
    return true;
  }
  override toString(): string {
    return `Flag(${this.up ? "up" : "down"})`;
  }
}

// A new primitive gets the shared wait tests by describing itself.
waitContract({
  name: "Linkable subclass (Flag.wait)",
  make() {
    const flag = new Flag();
    return {
      wait: (o) => flag.wait(o),
      wake: () => flag.raise(),
      waitable: flag,
    };
  },
  onTimeout: "false",
  onReady: "true",
  signal: true,
  description: /flag Flag\(down\)/,
});

test("callbacks run in registration order, all before any waiter resumes", async () => {
  const flag = new Flag();
  const log: string[] = [];
  const waiter = spawn(async () => {
    log.push(`waiter got ${await flag.wait()}`);
  });
  flag.rawlink(() => log.push("rawlink 1"));
  flag.link(() => log.push("link 2"));
  flag.rawlink(() => log.push("rawlink 3"));
  await sleep(0);
  log.push("raise");
  flag.raise();
  await waiter.join();
  assert.deepEqual(log, [
    "raise",
    "rawlink 1",
    "link 2",
    "rawlink 3",
    "waiter got true",
  ]);
});

test("a link runs as hub.main; linking a ready object calls back from the hub", async () => {
  const flag = new Flag();
  flag.raise();
  const log: string[] = [];
  spawn(() => {
    flag.link(() =>
      log.push(`link in main: ${getCurrent() === getHub().main}`)
    );
    log.push("linked");
  });
  await sleep(0);
  await sleep(0);
  assert.deepEqual(log, ["linked", "link in main: true"]);
});

test("a callback that makes the object unready leaves the rest for next time", async () => {
  const flag = new Flag();
  const log: string[] = [];
  flag.rawlink(() => {
    log.push("first lowers it");
    flag.up = false;
  });
  flag.rawlink(() => log.push(`second sees up=${flag.up}`));
  flag.raise();
  await sleep(0);
  log.push("raise again");
  flag.raise();
  await sleep(0);
  assert.deepEqual(log, [
    "first lowers it",
    "raise again",
    "second sees up=true",
  ]);
});

test("errors of link callbacks, thrown or rejected, go to hub.handleError as main's", async () => {
  await capturingErrors(async (errors) => {
    const flag = new Flag();
    flag.link(() => {
      throw new Error("thrown");
    });
    flag.link(() => Promise.reject(new Error("rejected")));
    flag.rawlink(() => {
      throw new Error("raw");
    });
    flag.raise();
    await sleep(0);
    await sleep(0);
    assert.deepEqual(errors, [
      "main: Error: thrown",
      "main: Error: raw",
      "main: Error: rejected",
    ]);
  });
});

test("bad callbacks throw at once, naming the method and value", () => {
  const flag = new Flag();
  assert.throws(() => flag.rawlink(42 as never), {
    name: "TypeError",
    message: "Cannot rawlink: callback must be a function, received 42",
  });
  assert.throws(() => flag.link("f" as never), {
    name: "TypeError",
    message: 'Cannot link: callback must be a function, received "f"',
  });
});

// ---------------------------------------------------------------------------
// Promises the mutation run showed untested (issue 10)

test("a wait on an object made ready waits for the links scheduled before it", async () => {
  const log: string[] = [];
  const late = new Flag();
  late.link(() => log.push("late's link"));
  late.raise(); // ready, its links scheduled, not run yet
  log.push(`late: ${await late.wait()}`);
  assert.deepEqual(log, ["late's link", "late: true"]);
});

test("a wait on a ready object still rejects for an aborted signal or a pending kill", async () => {
  const flag = new Flag();
  flag.raise();
  await sleep(0);
  const ac = new AbortController();
  ac.abort(new RangeError("aborted"));
  await assert.rejects(flag.wait({ signal: ac.signal }), /aborted/);
  const log: string[] = [];
  const g = await killedWhileAway(async (away) => {
    await away;
    await flag.wait().then(
      () => log.push("waited?!"),
      (e) => log.push((e as Error).name),
    );
  });
  assert.deepEqual(log, ["GreenletExit"]);
  assert.ok(g.successful()); // it caught the kill and returned
});

test("without a label a wait is described by the object alone; waitResult defaults to undefined", async () => {
  const bare = new Bare();
  const g = spawn(function waiter() {
    return bare.wait();
  });
  await sleep(0);
  assert.match(
    formatRunInfo(),
    /<Greenlet "waiter" #\d+: waiter\(\)> waiting on Bare$/m,
  );
  bare.raise();
  assert.equal(await g.get(), undefined);
  assert.equal(await new Bare().wait({ timeout: 1 }), "late");
});

test("rawlink ignores what its callback returns; link reports a rejection", async () => {
  await capturingErrors(async (errors) => {
    const flag = new Flag();
    const thens: string[] = [];
    const thenable = (name: string) => ({
      then(_ok: unknown, fail: (e: unknown) => void) {
        thens.push(name);
        fail(new Error(`${name} rejected`));
      },
    });
    flag.rawlink(() => thenable("raw") as never);
    flag.link(() => thenable("link") as never);
    flag.raise();
    await flag.wait();
    await sleep(0);
    assert.deepEqual(thens, ["link"]);
    assert.deepEqual(errors, ["main: Error: link rejected"]);
  });
});

test("a lone link: unlink stops it; unready again before it is notified, it waits for the next time", async () => {
  const log: string[] = [];
  const flag = new Flag();
  const gone = () => log.push("unlinked, yet ran");
  flag.rawlink(gone);
  flag.unlink(gone);
  flag.raise();
  await sleep(0);
  const other = new Flag();
  other.rawlink(() => log.push(`lone link sees up=${other.up}`));
  other.raise();
  other.up = false; // lowered before the notification runs
  await sleep(0);
  log.push("raise again");
  other.raise();
  await sleep(0);
  assert.deepEqual(log, ["raise again", "lone link sees up=true"]);
});

test("a callback that makes the object unready keeps links added meanwhile", async () => {
  const flag = new Flag();
  const log: string[] = [];
  flag.link(() => {
    log.push("first lowers it and links another");
    flag.up = false;
    flag.link(() => log.push("added meanwhile"));
  });
  flag.link(() => log.push("second"));
  flag.raise();
  await sleep(0);
  await sleep(0);
  flag.raise();
  await flag.wait();
  assert.deepEqual(log, [
    "first lowers it and links another",
    "second",
    "added meanwhile",
  ]);
});

test("a link callback may return anything: null, a number, a function", async () => {
  const flag = new Flag();
  flag.link(() => null as never);
  flag.link(() => 5 as never);
  flag.link((() => () => {}) as never);
  flag.raise();
  await flag.wait(); // nothing reported: the adapter would fail the test
});
