// Fixture for hub_test.ts: two greenlets wait on a Semaphore nobody releases
// while main joins them. The hub must end main's wait with LoopExit.
import { joinAll, LoopExit, Semaphore, spawn } from "../mod.ts";

async function main(): Promise<void> {
  const sem = new Semaphore(0);
  const first = spawn(async function first() {
    await sem.acquire();
  });
  const second = spawn(async function second() {
    await sem.acquire();
  });
  try {
    await joinAll([first, second]);
    console.log("joined?!");
  } catch (e) {
    if (!(e instanceof LoopExit)) throw e;
    console.log("caught LoopExit");
    console.log(e.message);
    console.log(`blocked: ${e.blocked.length}`);
    // its frames: the user's code where main waits
    console.log(
      e.stack!.split("\n").filter((l) => /^\s+at /.test(l)).join("\n"),
    );
  }
}

// Not awaited at top level: Deno reports a pending top-level await before
// the hub can see that the loop ran dry (see README).
main();
