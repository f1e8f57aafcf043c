/**
 * A JSON API on `serve()`: each request runs in its own greenlet, at most
 * 10 at once (the server's `pool`), and fans out to three backends — users,
 * orders, recommendations — each call under its own `withTimeout` and all of
 * them under one shared `Semaphore(60)` that caps the calls in flight to the
 * backends across requests. A backend that misses its deadline yields
 * `null`, not an error; a request that overruns the server's `timeout` is
 * killed, unwinds, and is answered 503.
 *
 * It starts its own backends on 127.0.0.1 (ephemeral ports): users answer
 * in 10 ms, orders in 20 ms, recommendations in 1000 ms (past their 250 ms
 * deadline). Then it sends one request, 40 at once, and one that overruns,
 * prints what came back (no ports, no timings: the same lines every run),
 * and stops everything.
 *
 * Why a per-request `Group` under a shared `Semaphore` rather than a shared
 * `Pool(60).map`: with a pool, one request's three calls queue behind other
 * requests' calls (head-of-line), so under load their deadlines pass while
 * they wait — the README's figures.
 *
 * Run: `deno run --allow-net=127.0.0.1 --unstable-no-legacy-abort examples/10_http_server.ts`
 * (the flag only silences `Deno.serve`'s one-time notice about
 * `req.signal`).
 *
 * @module
 */
import {
  getCurrentSignal,
  Group,
  Semaphore,
  sleep,
  withTimeout,
} from "../mod.ts";
import { serve } from "../server.ts";

const DELAYS: Record<string, number> = {
  users: 10,
  orders: 20,
  recommendations: 1000,
};
const CALL_DEADLINE = 250; // a wide margin over 10 and 20 ms on a loaded machine

// the backends: one loopback server, three routes with their own delays
const backends = serve(async (req) => {
  const [, kind, id] = new URL(req.url).pathname.split("/");
  await sleep(DELAYS[kind] ?? 0);
  return Response.json({ kind, id: Number(id) });
}, { hostname: "127.0.0.1", port: 0 });
const backendUrl = `http://127.0.0.1:${(await backends.ready).port}`;

const calls = new Semaphore(60); // backend calls in flight, across requests
let handlersNow = 0, handlersPeak = 0;

/** One backend call: a slot, a deadline, a fetch its deadline aborts. */
function call(kind: string, id: string): Promise<unknown> {
  return withTimeout(CALL_DEADLINE, async () => {
    using _slot = await calls.hold();
    const res = await fetch(`${backendUrl}/${kind}/${id}`, {
      signal: getCurrentSignal(),
    });
    return await res.json();
  }, { timeoutValue: null });
}

const api = serve(async (req) => {
  handlersPeak = Math.max(handlersPeak, ++handlersNow);
  try {
    const url = new URL(req.url);
    const id = url.pathname.split("/")[3];
    if (url.searchParams.has("stall")) await sleep(10_000); // overruns
    // a Group per request: its three calls run side by side, and leaving
    // this block (the request killed) kills whatever is still running
    await using group = new Group();
    const [user, orders, recommendations] = await group.map(
      (kind: string) => call(kind, id),
      ["users", "orders", "recommendations"],
    );
    return Response.json({ user, orders, recommendations });
  } finally {
    handlersNow--;
  }
}, { hostname: "127.0.0.1", port: 0, pool: 10, timeout: 1000 });
const apiUrl = `http://127.0.0.1:${(await api.ready).port}`;

const one = await fetch(`${apiUrl}/api/profile/7`);
console.log(`GET /api/profile/7 -> ${one.status} ${await one.text()}`);

const many = await Promise.all(
  Array.from(
    { length: 40 },
    (_, i) =>
      fetch(`${apiUrl}/api/profile/${i}`).then(async (r) => {
        const body = await r.json();
        return r.status === 200 && body.user.id === i &&
          body.recommendations === null;
      }),
  ),
);
console.log(
  `40 concurrent requests -> ${many.filter(Boolean).length} answered 200 ` +
    `with user and orders, recommendations timed out (null)`,
);
console.log(`handlers at once: at most ${handlersPeak} (the pool's cap)`);

const stalled = await fetch(`${apiUrl}/api/profile/9?stall=1`);
console.log(
  `GET /api/profile/9?stall=1 -> ${stalled.status} ${await stalled.text()}`
    .trimEnd(),
);

await api.stop({ timeout: 1000 });
await backends.stop({ timeout: 1000 });
console.log(`stopped: ${handlersNow} handlers left running`);
