// Fixture for hub_test.ts: a failing greenlet is reported by the default
// handleError on stderr, with its error's cause chain, and the program
// carries on.
import { spawn } from "../mod.ts";

const g = spawn(function failing() {
  throw new TypeError("bad");
});
await g.join();
const h = spawn(function fetchPage(_url: string) {
  // what Node's fetch throws for a port on the fetch spec's block list
  throw new TypeError("fetch failed", {
    cause: new Error("bad port", { cause: "port 6000 is blocked" }),
  });
}, "http://127.0.0.1:6000/");
await h.join();
console.log(`still running: failed=${!g.successful() && !h.successful()}`);
