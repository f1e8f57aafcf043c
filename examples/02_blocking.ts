/**
 * Tutorial program 2: a blocking call serialises greenlets.
 *
 * Each greenlet waits 100 ms with a *synchronous* call (`Atomics.wait`, the
 * stand-in for Python's `time.sleep`). Output is serial: f1 0…4, then f2 0…4.
 *
 * Why: a greenlet only gives the thread away at a switch point — an `await`
 * of something the hub owns. JavaScript has no stackful coroutines, so
 * nothing can suspend a function in the middle of a synchronous call: while
 * `Atomics.wait` blocks, the hub, every other greenlet, every timer and all
 * I/O are frozen. In Python, gevent's monkey patching swaps `time.sleep` for
 * `gevent.sleep`; JavaScript offers no way to turn a synchronous call into a
 * switch, so the fix is to call the asynchronous API and `await` it (see
 * 03_cooperative.ts). `patch.ts` routes the runtime's *asynchronous* APIs
 * through the hub and can report synchronous ones that stall it.
 *
 * With `--monitor`, a blocking monitor (gevent's monitor thread) names the
 * greenlets that kept the thread, on stderr: f1 and f2, about 500 ms each.
 *
 * Run: `deno run examples/02_blocking.ts [--monitor]`
 *
 * @module
 */
import process from "node:process";
import { joinAll, spawn, startMonitor, stopMonitor } from "../mod.ts";

const monitor = process.argv.includes("--monitor");
if (monitor) startMonitor({ maxBlockingTime: 100 });

const cell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the whole thread for `ms` milliseconds, like `time.sleep`. */
function blockingSleep(ms: number): void {
  Atomics.wait(cell, 0, 0, ms); // nobody ever notifies: it times out
}

function f1(): void {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f1 | NUM: @@@", i);
    blockingSleep(100); // no switch point: f2 cannot run meanwhile
  }
}

function f2(): void {
  for (let i = 0; i < 5; i++) {
    console.log("function:@@@f2 | NUM: @@@", i);
    blockingSleep(100);
  }
}

await joinAll([spawn(f1), spawn(f2)]);
if (monitor) stopMonitor();
