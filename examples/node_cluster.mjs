/**
 * Every core, on Node's own engine: `node:cluster` forks one worker per
 * core (or `WORKERS`), all listening on one port (the primary hands
 * connections out round-robin), each worker with its own hub and `serve()`
 * — gunicorn's gevent workers, the Node way. SIGTERM or SIGINT to the
 * primary stops every worker gracefully: `stop({ timeout: 1000 })` lets
 * requests in flight finish (or kills them at the deadline), then the
 * worker exits.
 *
 * Run (after `npm run build`, which writes the package to npm/):
 * `PORT=8000 node examples/node_cluster.mjs`, then
 * `curl http://127.0.0.1:8000/hello` a few times: the `pid` changes. In
 * your project, import from `gevent-ts/server` and `gevent-ts` instead
 * (and `npm install @hono/node-server`, which `serve()` uses on Node).
 *
 * @module
 */
import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import process from "node:process";

const WORKERS = Number(process.env.WORKERS ?? availableParallelism());
const PORT = Number(process.env.PORT ?? 8000);
// the package as built in this repository (a dynamic import: `deno check`
// of examples/ does not need it built)
const pkg = new URL("../npm/esm/", import.meta.url).href;

if (cluster.isPrimary) {
  let ready = 0;
  cluster.on("message", (_w, msg) => {
    if (msg === "listening" && ++ready === WORKERS) {
      console.log(`listening on ${PORT} with ${WORKERS} workers`);
    }
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  let exited = 0;
  cluster.on("exit", () => {
    if (++exited === WORKERS) console.log("every worker stopped");
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const { serve } = await import(`${pkg}server.js`);
  const { getCurrent, sleep } = await import(`${pkg}mod.js`);
  const server = serve(async (req) => {
    await sleep(1); // a switch point: this worker's other requests run
    return Response.json({
      pid: process.pid,
      greenlet: getCurrent().name,
      path: new URL(req.url).pathname,
    });
  }, { hostname: "127.0.0.1", port: PORT, pool: 1000, timeout: 5000 });
  await server.ready;
  process.send?.("listening");
  process.once("SIGTERM", async () => {
    await server.stop({ timeout: 1000 });
    process.exit(0);
  });
}
