// Fixture for hub_test.ts: main waits on a Semaphore that nothing can
// release and does not catch the LoopExit; the program must end with it.
import { Semaphore } from "../mod.ts";

async function main(): Promise<void> {
  await new Semaphore(0).acquire();
  console.log("acquired?!");
}

main();
