/**
 * Tutorial program 3: the cooperative version of program 2.
 *
 * `await sleep(100)` is a switch point: the greenlet parks on a hub timer and
 * the other one runs, so the output interleaves again like program 1:
 * f1 0, f2 0, f1 1, f2 1, … f2 4 (in about 0.5 s instead of 1 s).
 *
 * Run: `deno run examples/03_cooperative.ts`
 *
 * @module
 */
import { joinAll, sleep, spawn } from "../mod.ts";

async function f1(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f1 | NUM: @@@", i);
    await sleep(100); // gevent.sleep(0.1)
  }
}

async function f2(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f2 | NUM: @@@", i);
    await sleep(100);
  }
}

await joinAll([spawn(f1), spawn(f2)]);
