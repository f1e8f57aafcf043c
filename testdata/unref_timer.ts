// Fixture for patch_test.ts: an unref'd patched interval must not keep the
// process alive, as with the runtime's own timers.
import { patchTimers } from "../patch.ts";

patchTimers();
const interval = setInterval(() => console.log("tick?!"), 1_000);
const deno = (globalThis as {
  Deno?: { unrefTimer(id: number): void };
}).Deno;
if (deno !== undefined) deno.unrefTimer(interval as unknown as number);
else (interval as unknown as { unref(): void }).unref();
const kept = setTimeout(() => console.log("ref'd timeout fired"), 20);
console.log(`armed ${typeof kept}`);
