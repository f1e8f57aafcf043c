// Fixture for trace_test.ts: a program that says nothing about tracing,
// traced by GEVENT_TRACE=path.json. Two greenlets take turns on a lock.
// With the argument "exit" it ends by process.exit(0): the trace is
// written all the same.
import process from "node:process";
import { joinAll, Semaphore, sleep, spawn } from "../mod.ts";

const sem = new Semaphore(1);
async function hold(ms: number): Promise<void> {
  await sem.acquire();
  try {
    await sleep(ms);
  } finally {
    sem.release();
  }
}
await joinAll([
  spawn(function first() {
    return hold(5);
  }),
  spawn(function second() {
    return hold(1);
  }),
]);
console.log("done");
if (process.argv.includes("exit")) process.exit(0);
