// 20,000 plain fetches unpatched, then 20,000 under patchAll(): prints the
// heap growth of each phase (after GC), in bytes.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { patchAll, unpatchAll } from "../patch.ts";

const N = 20_000;
const gc = (globalThis as { gc?: () => void }).gc!;
const server = createServer((_req, res) => res.end("ok"));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

async function run(n: number): Promise<number> {
  for (let i = 0; i < n; i++) await (await fetch(url)).text();
  // collect, let finalizers run, collect what they freed; the live heap is
  // the least any round saw (a round may catch the runtime's own caches
  // half-grown: its figure wanders by a few hundred kB)
  let least = Infinity;
  for (let round = 0; round < 5; round++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    least = Math.min(least, process.memoryUsage().heapUsed);
  }
  return least;
}

const base = await run(2_000); // warm-up
const plain = await run(N);
patchAll({ sync: "off" });
const patched = await run(N);
unpatchAll();
console.log(JSON.stringify({ plain: plain - base, patched: patched - plain }));
server.closeAllConnections();
server.close();
