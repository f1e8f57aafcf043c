import assert from "node:assert/strict";
import { getCurrent, getHub, Linkable, sleep, spawn } from "./mod.ts";
import { capturingErrors, test } from "./test_adapter.ts";
import { waitContract } from "./test_waits.ts";

/** The smallest waitable: a flag that is ready while it is up. */
class Flag extends Linkable {
  up = false;
  constructor() {
    super("flag");
  }
  ready(): boolean {
    return this.up;
  }
  raise(): void {
    this.up = true;
    this.notifyLinks();
  }
  wait(options: { timeout?: number; signal?: AbortSignal } = {}) {
    return this.waitReady(options, false);
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
