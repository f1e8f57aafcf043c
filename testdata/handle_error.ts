// Fixture for hub_test.ts: a failing greenlet is reported by the default
// handleError on stderr and the program carries on.
import { spawn } from "../mod.ts";

const g = spawn(function failing() {
  throw new TypeError("bad");
});
await g.join();
console.log(`still running: failed=${!g.successful()}`);
