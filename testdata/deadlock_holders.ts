// Fixture for hub_test.ts: main waits on a Semaphore whose permit a greenlet
// took and never gave back (it ended); two Semaphores made on different
// lines are told apart by where they were made; an RLock's owner ended.
import { LoopExit, RLock, Semaphore, sleep, spawn } from "../mod.ts";

async function main(): Promise<void> {
  const a = new Semaphore(1);
  const b = new Semaphore(1);
  const lock = new RLock();
  spawn(async function takesA() {
    await a.acquire();
  });
  spawn(async function takesB() {
    await b.acquire();
    await lock.acquire();
  });
  await sleep(0);
  spawn(async function waitsOnB() {
    await b.acquire();
  });
  spawn(async function waitsOnLock() {
    await lock.acquire();
  });
  try {
    await a.acquire();
  } catch (e) {
    if (!(e instanceof LoopExit)) throw e;
    console.log(e.message);
  }
}

// Not awaited at top level (see deadlock.ts).
main();
