/**
 * Tutorial program 4: concurrent HTTP requests.
 *
 * Three greenlets `fetch` one URL each; each prints `URL:<url> | CODE:200!`
 * when its response is complete, so lines come in completion order.
 *
 * With no arguments it starts its own HTTP server on 127.0.0.1 (an ephemeral
 * port) whose routes answer after 300, 100 and 200 ms, so it needs no
 * network and prints /slow last. URLs given as arguments are fetched
 * instead. Each request gets the greenlet's `signal`, so killing the
 * greenlet would abort its request.
 *
 * Run: `deno run --allow-net=127.0.0.1 examples/04_fetch.ts [url ...]`
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { getCurrent, joinAll, spawn } from "../mod.ts";

const DELAYS: Record<string, number> = {
  "/slow": 300,
  "/fast": 100,
  "/medium": 200,
};

/** Starts the local server; resolves with it and its base URL. */
function startServer(): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const delay = DELAYS[req.url ?? ""];
    if (delay === undefined) {
      res.writeHead(404, { connection: "close" }).end("not found\n");
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { "content-type": "text/plain", connection: "close" })
        .end(`${req.url} after ${delay} ms\n`);
    }, delay);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, base: `http://127.0.0.1:${port}` });
    });
  });
}

async function fetchOne(url: string): Promise<number> {
  const res = await fetch(url, { signal: getCurrent().signal });
  await res.arrayBuffer(); // read the whole body
  console.log(`URL:${url} | CODE:${res.status}!`);
  return res.status;
}

const args = process.argv.slice(2);
let server: Server | undefined;
let urls = args;
if (urls.length === 0) {
  const started = await startServer();
  server = started.server;
  urls = Object.keys(DELAYS).map((path) => started.base + path);
}
try {
  await joinAll(urls.map((url) => spawn(fetchOne, url)));
} finally {
  if (server) await new Promise((resolve) => server.close(resolve));
}
