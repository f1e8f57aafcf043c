/**
 * A greenlet's local value is dropped when the greenlet ends, even while
 * the Greenlet object is still referenced. Prints `collected` or `kept`.
 * Run with the GC exposed (`--v8-flags=--expose-gc` / `--expose-gc`).
 */
import { local, sleep, spawn } from "../mod.ts";

const slot = local<object>();
let ref: WeakRef<object> | undefined;
const g = spawn(() => {
  const value = { big: new Array(1000).fill(0) };
  ref = new WeakRef(value);
  slot.value = value;
});
await g.join();
await sleep(1); // a later job: WeakRef targets are held until the job ends
(globalThis as unknown as { gc(): void }).gc();
console.log(ref!.deref() === undefined ? "collected" : "kept", g.dead);
