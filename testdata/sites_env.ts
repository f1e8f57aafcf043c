// Fixture for monitor_test.ts: how many of 300 greenlets spawned at once
// have a spawn site, under the GEVENT_SITES the test sets.
import { joinAll, spawn } from "../mod.ts";

const gs = Array.from({ length: 300 }, () => spawn(() => 1));
console.log(`recorded: ${gs.filter((g) => g.spawnSite !== null).length}`);
await joinAll(gs);
