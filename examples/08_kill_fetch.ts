/**
 * Killing a request: `patchAll()` routes `fetch` through the hub, so a kill
 * or a `Timeout` aborts the request itself, not just the wait for it.
 *
 * 1. A greenlet fetches `/slow` from an embedded loopback server that never
 *    answers; main kills it after 100 ms. The request is aborted at once and
 *    the server sees the connection close.
 * 2. `withTimeout(100, () => fetch(...))` bounds a request the same way; the
 *    same greenlet's next request works (each fetch has its own signal).
 *
 * Run: `deno run --allow-net=127.0.0.1 examples/08_kill_fetch.ts`
 *
 * @module
 */
import { patchAll, unpatchAll } from "../patch.ts"; // patch first
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { sleep, spawn, Timeout, withTimeout } from "../mod.ts";

patchAll({ sync: "off" });

let closed = (_what: string) => {};
const server = createServer((req, res) => {
  if (req.url === "/slow") {
    console.log("server: /slow arrived, not answering");
    res.on("close", () => closed(`server: ${req.url} closed by the client`));
    return;
  }
  res.writeHead(200, { connection: "close" }).end("fast\n");
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const serverSaw = () => new Promise<string>((r) => (closed = r));

// 1. kill
const sawKill = serverSaw();
const fetcher = spawn(async function fetcher() {
  try {
    await fetch(`${base}/slow`);
  } catch (e) {
    console.log(`fetcher: request ended by ${(e as Error).name}`);
    throw e;
  }
});
await sleep(100);
await fetcher.kill();
console.log(`main: killed ${fetcher}`);
console.log(await sawKill);

// 2. withTimeout
const sawTimeout = serverSaw();
const bounded = spawn(async function bounded() {
  try {
    await withTimeout(100, () => fetch(`${base}/slow`));
  } catch (e) {
    if (!(e instanceof Timeout)) throw e;
    console.log(`bounded: ${e.name} after ${e.ms} ms`);
  }
  console.log(await sawTimeout);
  const res = await fetch(`${base}/fast`);
  console.log(
    `bounded: next request still works: ${res.status} ${
      (await res.text()).trim()
    }`,
  );
});
await bounded.join();

server.close();
unpatchAll();
