/**
 * Every core, on Deno's own engine: `deno serve --parallel` runs this
 * module's default export in one worker per core, all on one port, each
 * worker with its own hub — as gunicorn's gevent workers run one gevent
 * hub per process. `greenletHandler` gives each request its own greenlet
 * inside its worker, bounded by `pool`, with a `timeout`.
 *
 * Run: `deno serve --parallel --allow-net --port 8000 examples/serve_parallel.ts`
 * (`DENO_JOBS=4` for four workers; the default is one per core), then
 * `curl http://127.0.0.1:8000/hello` a few times: the `worker` field
 * changes as the connections spread over the workers.
 *
 * @module
 */
import { getCurrent, sleep } from "../mod.ts";
import { greenletHandler } from "../server.ts";

/** This worker's id (each worker is an isolate of its own). */
const worker = crypto.randomUUID().slice(0, 8);

export default {
  fetch: greenletHandler(async (req) => {
    await sleep(1); // a switch point: this worker's other requests run
    return Response.json({
      worker,
      greenlet: getCurrent().name,
      path: new URL(req.url).pathname,
    });
  }, { pool: 1000, timeout: 5000 }),
} satisfies Deno.ServeDefaultExport;
