/**
 * What `serve()` listens with: `Deno.serve` on Deno, `node:http` with
 * `@hono/node-server`'s request listener on Node (an optional peer
 * dependency of the npm package, loaded only here, only when `serve()` runs
 * on Node).
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { ServerAddr } from "./server.ts";
import { outsideGreenlets } from "./_core/mod.ts";

/** A fetch handler as serve() runs it. */
export type FetchHandler = (req: Request, info?: unknown) => Promise<Response>;

/** The listening half of a server. */
export interface Backend {
  addr: ServerAddr;
  /** Stops accepting connections (idle keep-alive connections close). */
  close(): void;
  /** Once every response has been sent: closes what is left; resolves when closed. */
  closed(): Promise<void>;
}

interface DenoHttpServer {
  addr: { hostname: string; port: number };
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

interface DenoServe {
  serve(
    options: {
      hostname: string;
      port: number;
      onListen: () => void;
      onError: (e: unknown) => Response;
    },
    handler: FetchHandler,
  ): DenoHttpServer;
}

const deno = (globalThis as { Deno?: Partial<DenoServe> }).Deno;

/** True where `serve()` uses `Deno.serve`. */
export const onDeno: boolean = typeof deno?.serve === "function";

/** The package `serve()` needs on Node, named in its error. */
export const NODE_ADAPTER = "@hono/node-server";

/** Listens: `Deno.serve` or `node:http`; rejects if it cannot bind. */
export function listen(
  hostname: string,
  port: number,
  handler: FetchHandler,
): Promise<Backend> {
  // outside every greenlet's context: the server's callbacks would carry
  // the caller's (a greenlet that started the server), and each request
  // would then pay for leaving it
  return outsideGreenlets(() =>
    onDeno
      ? Promise.resolve().then(() => listenDeno(hostname, port, handler))
      : listenNode(hostname, port, handler)
  );
}

function failed(): Response {
  // the failure was reported by hub.handleError already: no second report
  return new Response("Internal Server Error\n", { status: 500 });
}

function listenDeno(
  hostname: string,
  port: number,
  handler: FetchHandler,
): Backend {
  const server = (deno as DenoServe).serve(
    { hostname, port, onListen() {}, onError: failed },
    handler,
  );
  let shutdown: Promise<void> | null = null;
  return {
    addr: { hostname, port: server.addr.port },
    close() {
      shutdown ??= server.shutdown();
    },
    async closed() {
      shutdown ??= server.shutdown();
      await shutdown;
      await server.finished;
    },
  };
}

interface NodeAdapter {
  getRequestListener(
    fetch: FetchHandler,
    options: { overrideGlobalObjects: boolean },
  ): (req: IncomingMessage, res: ServerResponse) => unknown;
}

async function loadAdapter(): Promise<NodeAdapter> {
  // a variable specifier: neither esbuild nor Deno resolves it at build time
  const name = NODE_ADAPTER;
  try {
    return await import(name) as NodeAdapter;
  } catch (e) {
    throw new Error(
      `Cannot serve: serve() on Node needs the package ${NODE_ADAPTER} (an optional peer dependency of gevent-ts): npm install ${NODE_ADAPTER}`,
      { cause: e },
    );
  }
}

async function listenNode(
  hostname: string,
  port: number,
  handler: FetchHandler,
): Promise<Backend> {
  const [{ getRequestListener }, http] = await Promise.all([
    loadAdapter(),
    import("node:http"),
  ]);
  // the adapter's default: its lightweight Request/Response become the
  // globals (subclass-compatible; 2.5× less CPU per request on Node 20
  // than undici's, measured by bench/http.ts)
  const listener = getRequestListener(handler, {
    overrideGlobalObjects: true,
  });
  let open = 0;
  let allSent: (() => void) | null = null;
  const sent = () => {
    if (--open === 0 && allSent !== null) allSent();
  };
  const server: Server = http.createServer((req, res) => {
    open++;
    res.once("close", sent);
    listener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null
    ? address.port
    : port;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    addr: { hostname, port: bound },
    close,
    async closed() {
      close();
      if (open !== 0) await new Promise<void>((r) => (allSent = r));
      server.closeAllConnections();
      await closing;
    },
  };
}
