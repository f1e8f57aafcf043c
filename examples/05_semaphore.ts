/**
 * Tutorial program 5: a Semaphore.
 *
 * Both greenlets take the one permit of `Semaphore(1)` to print, release it,
 * then sleep: f1 for 100 ms, f2 for 300 ms. Output:
 * f1 0, f2 0, f1 1, f1 2, f2 1, f1 3, f1 4, f2 2, f2 3, f2 4.
 * (At 300 ms both wake; f2's timer was armed first, so it fires first.)
 *
 * Run: `deno run examples/05_semaphore.ts`
 *
 * @module
 */
import { joinAll, Semaphore, sleep, spawn } from "../mod.ts";

const sem = new Semaphore(1);

async function f1(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await sem.acquire();
    console.log("function:@@@f1 | NUM: @@@", i);
    sem.release();
    await sleep(100);
  }
}

async function f2(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await sem.acquire();
    console.log("function:@@@f2 | NUM: @@@", i);
    sem.release();
    await sleep(300);
  }
}

await joinAll([spawn(f1), spawn(f2)]);
