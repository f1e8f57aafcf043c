/**
 * One set of wait contract tests shared by every waitable (gevent's
 * `testing/timing.py`): each module's test file runs {@linkcode waitContract}
 * for each of its blocking waits, so a new primitive gets the same checks —
 * timeout, signal, kill while waiting, a Timeout delivered into the wait,
 * FIFO wake-up, its description in run info, and `wait([obj])`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  formatRunInfo,
  getHub,
  GreenletExit,
  idle,
  joinAll,
  sleep,
  spawn,
  Timeout,
  wait,
  type Waitable,
} from "../mod.ts";
import { test } from "./test_adapter.ts";

/** What a blocking wait resolves with, or the error it threw, for the log. */
function outcome(v: unknown): string {
  if (v instanceof Error) return `${v.name}`;
  if (typeof v === "object" && v !== null) return "object";
  return String(v);
}

/** One fresh waitable, blocked, and how to wait on it and wake it. */
export interface WaitFixture {
  /** Starts one blocking wait (the call under test). */
  wait(
    options: { timeout?: number | undefined; signal?: AbortSignal | undefined },
  ): Promise<unknown>;
  /** Runs after a wait succeeded (e.g. releases the lock it took). */
  after?(value: unknown): void;
  /** Makes the object ready for `n` waiters (oldest first). */
  wake(n: number): void | Promise<void>;
  /** The object itself, when it is a Waitable (for `wait([obj])`). */
  waitable?: Waitable;
  /** Leaves nothing alive behind (after the test's assertions). */
  cleanup?(): void | Promise<void>;
}

/** How a waitable's blocking call behaves, for {@linkcode waitContract}. */
export interface WaitCase {
  /** E.g. `"Semaphore.acquire"`. */
  name: string;
  /** A fresh, blocked fixture. */
  make(): WaitFixture | Promise<WaitFixture>;
  /** What a timed-out wait gives: a value (`"false"`, `"undefined"`, `"0"`) or `"Timeout"`. */
  onTimeout: string;
  /** What a successful wait gives (see `outcome`). */
  onReady: string;
  /** Whether the call takes `signal`. */
  signal: boolean;
  /** How the wait shows in run info. */
  description: RegExp;
}

/** Awaits `p`: `[outcome, value]`, the outcome naming an error's class. */
async function attempt(p: Promise<unknown>): Promise<[string, unknown]> {
  try {
    const v = await p;
    return [outcome(v), v];
  } catch (e) {
    return [outcome(e), e];
  }
}

/** Registers the shared wait tests for one blocking call. */
export function waitContract(c: WaitCase): void {
  // in virtual time (testing.ts): the timeouts end at exact instants
  test.virtual(`${c.name} (wait contract): times out with ${c.onTimeout}, FIFO after`, async () => {
    const f = await c.make();
    const log: string[] = [];
    const waiter = async (name: string, timeout?: number) => {
      const [r, v] = await attempt(f.wait({ timeout }));
      log.push(`${name} ${r}@${getHub().now()}`);
      if (r === c.onReady) f.after?.(v);
    };
    const early = spawn(waiter, "early", 5);
    const a = spawn(waiter, "a");
    const b = spawn(waiter, "b");
    await early.join();
    await f.wake(2);
    await joinAll([a, b]);
    assert.deepEqual(log, [
      `early ${c.onTimeout}@5`,
      `a ${c.onReady}@5`,
      `b ${c.onReady}@5`,
    ]);
    await f.cleanup?.();
  });

  test(`${c.name} (wait contract): run info names the wait`, async () => {
    const f = await c.make();
    const g = spawn(async function blocked() {
      await f.wait({});
    });
    await sleep(0);
    const info = formatRunInfo();
    assert.match(
      info,
      new RegExp(
        `"blocked" #\\d+: blocked\\(\\)> waiting on ${c.description.source}`,
      ),
    );
    await g.kill();
    await f.cleanup?.();
  });

  test(`${c.name} (wait contract): a kill while waiting lands there; the next waiter still gets through`, async () => {
    const f = await c.make();
    const log: string[] = [];
    const victim = spawn(async function victim() {
      try {
        await f.wait({});
        log.push("victim woke?!");
      } catch (e) {
        log.push(`victim ${outcome(e)}`);
        throw e;
      } finally {
        log.push("victim finally");
      }
    });
    const next = spawn(async function next() {
      const [r, v] = await attempt(f.wait({}));
      log.push(`next ${r}`);
      if (r === c.onReady) f.after?.(v);
    });
    await sleep(0);
    await victim.kill();
    log.push("killed");
    await f.wake(1);
    await next.join();
    assert.ok(victim.value instanceof GreenletExit);
    assert.deepEqual(log, [
      "victim GreenletExit",
      "victim finally",
      "killed",
      `next ${c.onReady}`,
    ]);
    await f.cleanup?.();
  });

  test.virtual(`${c.name} (wait contract): a Timeout started in the greenlet is thrown into the wait`, async () => {
    const f = await c.make();
    const g = spawn(async () => {
      using _t = Timeout.startNew(5);
      return `${(await attempt(f.wait({})))[0]}@${getHub().now()}`;
    });
    assert.equal(await g.get(), "Timeout@5");
    await f.cleanup?.();
  });

  if (c.signal) {
    test(`${c.name} (wait contract): a signal aborts the wait with its reason`, async () => {
      const f = await c.make();
      const before = new AbortController();
      before.abort(new Error("already"));
      const during = new AbortController();
      const log: string[] = [];
      const g = spawn(async () => {
        try {
          await f.wait({ signal: before.signal });
        } catch (e) {
          log.push(`aborted before: ${(e as Error).message}`);
        }
        try {
          await f.wait({ signal: during.signal });
        } catch (e) {
          log.push(`aborted during: ${(e as Error).message}`);
        }
      });
      await idle(); // g is blocked in its second wait
      log.push("abort");
      during.abort(new Error("now"));
      await g.join();
      assert.deepEqual(log, [
        "aborted before: already",
        "abort",
        "aborted during: now",
      ]);
      await f.cleanup?.();
    });
  }

  test.virtual(`${c.name} (wait contract): wait([obj]) returns once it is ready`, async () => {
    const f = await c.make();
    const w = f.waitable;
    if (w === undefined) return await f.cleanup?.();
    assert.equal(w.ready(), false);
    assert.deepEqual(await wait([w], { timeout: 5 }), []);
    assert.equal(getHub().now(), 5);
    const log: string[] = [];
    const g = spawn(async () => {
      const ready = await wait([w]);
      log.push(`ready ${ready.length} ${w.ready()}`);
    });
    await sleep(0);
    log.push("wake");
    await f.wake(1);
    await g.join();
    assert.deepEqual(log, ["wake", "ready 1 true"]);
    await f.cleanup?.();
  });
}
