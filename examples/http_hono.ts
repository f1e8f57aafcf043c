/**
 * Hono with a greenlet per request: `serve(app.fetch, { pool, timeout })`
 * (on Deno `Deno.serve`; on Node `node:http` through `@hono/node-server`).
 * A client that goes away kills its request's greenlet quietly — Hono's
 * `onError` never sees it and `hub.handleError` reports nothing — while a
 * route's real failure goes to `onError` as usual. A route that overruns
 * `timeout` is answered 503 once it has unwound.
 *
 * It starts on 127.0.0.1 (an ephemeral port), sends four requests, prints
 * what came back and stops the server.
 *
 * Run: `deno run --allow-net=127.0.0.1 --unstable-no-legacy-abort examples/http_hono.ts`
 *
 * @module
 */
import { Hono } from "hono";
import { getCurrent, getHub, sleep } from "../mod.ts";
import { serve } from "../server.ts";

const seenByOnError: string[] = [];
const reported: string[] = [];
getHub().handleError = (g, e) => void reported.push(`${g.name}: ${e}`);

let reportEnded!: () => void;
const reportDone = new Promise<void>((r) => (reportEnded = r));

const app = new Hono();
app.get("/users/:id", async (c) => {
  await sleep(5);
  return c.json({ id: Number(c.req.param("id")), greenlet: getCurrent().name });
});
app.get("/report", async (c) => {
  try {
    await sleep(10_000);
    return c.text("done");
  } finally {
    reportEnded();
  }
});
app.get("/boom", async () => {
  await sleep(1);
  throw new Error("boom");
});
app.get("/slow", async (c) => {
  await sleep(10_000);
  return c.text("late");
});
app.onError((err, c) => {
  seenByOnError.push(err.message);
  return c.json({ error: err.message }, 500);
});

await using server = serve(app.fetch, {
  hostname: "127.0.0.1",
  port: 0,
  pool: 100,
  timeout: 200,
});
const base = `http://127.0.0.1:${(await server.ready).port}`;

const user = await fetch(`${base}/users/7`);
console.log(`GET /users/7 -> ${user.status} ${await user.text()}`);

const client = new AbortController();
const report = fetch(`${base}/report`, { signal: client.signal })
  .catch((e: Error) => e.name);
await sleep(20);
client.abort();
console.log(`GET /report -> the client went away (${await report})`);
await reportDone;

const boom = await fetch(`${base}/boom`);
console.log(`GET /boom -> ${boom.status} ${await boom.text()}`);

const slow = await fetch(`${base}/slow`);
console.log(`GET /slow -> ${slow.status} ${(await slow.text()).trimEnd()}`);

await server.stop({ timeout: 1000 });
console.log(`Hono's onError saw: ${JSON.stringify(seenByOnError)}`);
console.log(`hub.handleError reported: ${JSON.stringify(reported)}`);
