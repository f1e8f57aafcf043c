/**
 * One server of the HTTP load benchmark (`bench/http.ts` starts it):
 * `<mode> <port> [library dir] [backend port]`. It listens on 127.0.0.1,
 * prints `listening <port>` and serves until killed. On Deno it imports the
 * sources; on Node (the driver bundles this file with esbuild) the built
 * npm package from the directory given (`npm/esm`).
 *
 * Every mode runs the same handler — one 1 ms timer (a raw promise), then
 * a small JSON body — bare or through gevent-ts; the `-sleep` modes wait
 * the same 1 ms with the hub's `sleep(1)`. The fan-out modes call a backend
 * three times per request under a 150 ms deadline (504 past it); the
 * backend answers in 17–82 ms (`BACKEND_MIN_MS`/`BACKEND_MAX_MS`).
 *
 * @module
 */
import { createServer } from "node:http";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type * as Mod from "../mod.ts";
import type * as ServerMod from "../server.ts";

const [mode, portArg, libDir, backendArg] = process.argv.slice(2);
const port = Number(portArg);
const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const deno = (globalThis as unknown as {
  Deno: {
    serve(
      o: { hostname: string; port: number; onListen(): void },
      h: (req: Request) => Response | Promise<Response>,
    ): unknown;
  };
}).Deno;

async function lib(): Promise<[typeof Mod, typeof ServerMod]> {
  if (isDeno) return [await import("../mod.ts"), await import("../server.ts")];
  const dir = pathToFileURL(`${libDir}/`).href;
  return [
    await import(`${dir}mod.js`),
    await import(`${dir}server.js`),
  ];
}

const BODY = JSON.stringify({ ok: true, items: [1, 2, 3] });
const HEADERS = { "content-type": "application/json" };

function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1));
}

/** The handler every mode runs: a 1 ms timer, then the body. */
async function handler(_req: Request): Promise<Response> {
  await tick();
  return new Response(BODY, { headers: HEADERS });
}

function listening(p: number): void {
  console.log(`listening ${p}`);
}

const [gevent, server] = await lib();

if (mode === "deno-bare") {
  deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
  listening(port);
} else if (mode === "deno-greenletHandler") {
  deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    server.greenletHandler(handler),
  );
  listening(port);
} else if (mode === "deno-serve" || mode === "node-serve") {
  const s = server.serve(handler, { hostname: "127.0.0.1", port });
  listening((await s.ready).port);
} else if (mode === "deno-serve-sleep" || mode === "node-serve-sleep") {
  // the same 1 ms, waited for the hub's way: the greenlet parks
  const s = server.serve(async () => {
    await gevent.sleep(1);
    return new Response(BODY, { headers: HEADERS });
  }, { hostname: "127.0.0.1", port });
  listening((await s.ready).port);
} else if (mode === "node-bare") {
  createServer(async (_req, res) => {
    await tick();
    res.writeHead(200, HEADERS).end(BODY);
  }).listen(port, "127.0.0.1", () => listening(port));
} else if (mode === "node-hono-bare") {
  const name = "@hono/node-server";
  const { getRequestListener } = await import(name);
  createServer(getRequestListener(handler)).listen(
    port,
    "127.0.0.1",
    () => listening(port),
  );
} else if (mode === "node-greenletListener") {
  createServer(server.greenletListener(async (_req, res) => {
    await tick();
    res.writeHead(200, HEADERS).end(BODY);
  })).listen(port, "127.0.0.1", () => listening(port));
} else if (mode === "backend") {
  // answers after MIN–MAX ms (a fixed cycle, the same on every run)
  const min = Number(process.env.BACKEND_MIN_MS ?? 17);
  const span = Number(process.env.BACKEND_MAX_MS ?? 82) - min + 1;
  let i = 0;
  createServer((_req, res) => {
    const ms = min + (i++ * 37) % span;
    setTimeout(() => res.end("ok"), ms);
  }).listen(port, "127.0.0.1", () => listening(port));
} else if (mode.startsWith("fanout-")) {
  const { getCurrentSignal, Group, Pool, Semaphore, withTimeout } = gevent;
  const backend = `http://127.0.0.1:${backendArg}/`;
  const DEADLINE = 150;
  const CAP = 60;
  const call = async (signal: AbortSignal) => {
    const r = await fetch(backend, { signal });
    return await r.text();
  };
  const gateway = new Response("deadline", { status: 504 });
  let fan: () => Promise<unknown>;
  if (mode === "fanout-promises") {
    fan = () => {
      const signal = AbortSignal.timeout(DEADLINE);
      return Promise.all([call(signal), call(signal), call(signal)]);
    };
  } else if (mode === "fanout-semaphore") {
    const sem = new Semaphore(CAP);
    const one = async () => {
      using _ = await sem.hold();
      return await call(getCurrentSignal());
    };
    fan = () =>
      withTimeout(DEADLINE, async () => {
        await using g = new Group();
        return await g.map(one, [1, 2, 3]);
      });
  } else if (mode === "fanout-pool") {
    const pool = new Pool(CAP);
    const one = () => call(getCurrentSignal());
    fan = () => withTimeout(DEADLINE, () => pool.map(one, [1, 2, 3]));
  } else throw new Error(`unknown mode ${mode}`);
  const s = server.serve(async () => {
    try {
      await fan();
      return new Response(BODY, { headers: HEADERS });
    } catch {
      return gateway.clone();
    }
  }, { hostname: "127.0.0.1", port });
  listening((await s.ready).port);
} else {
  throw new Error(`unknown mode ${mode}`);
}
