/**
 * Tutorial program 1: switching with `sleep(0)`.
 *
 * Two greenlets print and then `await sleep(0)`, which puts each at the tail
 * of the hub's run queue, so they take turns exactly:
 * f1 0, f2 0, f1 1, f2 1, … f2 4.
 *
 * Run: `deno run examples/01_switch.ts`
 *
 * @module
 */
import { joinAll, sleep, spawn } from "../mod.ts";

async function f1(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f1 | NUM: @@@", i);
    await sleep(0); // gevent.sleep(0): let every other runnable greenlet run
  }
}

async function f2(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f2 | NUM: @@@", i);
    await sleep(0);
  }
}

await joinAll([spawn(f1), spawn(f2)]);
