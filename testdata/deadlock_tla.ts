// Fixture for hub_test.ts: a deadlock at a *top-level* await. Node reports
// LoopExit; Deno 2.9 ends the program first ("Top-level await promise never
// resolved"), before any hook runs: the limitation the README documents.
import { LoopExit, Semaphore } from "../mod.ts";

try {
  await new Semaphore(0).acquire();
  console.log("acquired?!");
} catch (e) {
  console.log(e instanceof LoopExit ? "caught LoopExit" : `caught ${e}`);
}
