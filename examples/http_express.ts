/**
 * Express with a greenlet per request: `greenletListener(app)` wraps the
 * whole app, so every route runs in its own greenlet — `getCurrent()`
 * tells requests apart, `withTimeout` and kills reach what a route awaits —
 * at most `pool` of them at once. A client that goes away kills its
 * request's greenlet (its `finally` and `shield`ed cleanup run; nothing is
 * reported), and a route that overruns `timeout` is killed and answered
 * 503 once it has unwound. A route's own failure stays Express's: its
 * error middleware answers it.
 *
 * It starts on 127.0.0.1 (an ephemeral port), sends three requests, prints
 * what came back and closes. The same code runs on Node with
 * `gevent-ts/server` (`npm install gevent-ts express`).
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-env --allow-read examples/http_express.ts`
 * (Express reads its environment and files).
 *
 * @module
 */
import express from "express";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getCurrent, shield, sleep } from "../mod.ts";
import { greenletListener } from "../server.ts";

const app = express();
app.get("/users/:id", async (req, res) => {
  await sleep(5); // a switch point: other requests run meanwhile
  res.json({ id: Number(req.params.id), greenlet: getCurrent().name });
});

let cleanedUp = "";
let reportEnded!: () => void;
const reportDone = new Promise<void>((r) => (reportEnded = r));
app.get("/report", async (_req, res) => {
  try {
    await sleep(10_000);
    res.send("done");
  } finally {
    await shield(() => sleep(5)); // cleanup that waits still runs
    cleanedUp = `finally ran after a kill: ${getCurrent().signal.aborted}`;
    reportEnded();
  }
});
app.get("/slow", async (_req, res) => {
  await sleep(10_000);
  res.send("late");
});

const server = createServer(greenletListener(app, { pool: 100, timeout: 200 }));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const user = await fetch(`${base}/users/7`);
console.log(`GET /users/7 -> ${user.status} ${await user.text()}`);

const client = new AbortController();
const report = fetch(`${base}/report`, { signal: client.signal })
  .catch((e: Error) => e.name);
await sleep(20);
client.abort();
console.log(`GET /report -> the client went away (${await report})`);
await reportDone;
console.log(`  its greenlet was killed quietly; ${cleanedUp}`);

const slow = await fetch(`${base}/slow`);
console.log(`GET /slow -> ${slow.status} ${(await slow.text()).trimEnd()}`);

server.closeAllConnections();
await new Promise((r) => server.close(r));
console.log("closed");
