/**
 * Servers (entry point `./server`): a greenlet per HTTP request, bounded by
 * a pool, ended by the client going away, by a deadline or by the server's
 * stop — gevent's `WSGIServer(…, spawn=Pool(n))` and `stop(timeout)`.
 *
 * - {@linkcode greenletHandler} makes a standard fetch handler
 *   `(req, info?) => Promise<Response>`: for `Deno.serve`,
 *   `deno serve --parallel` (`export default { fetch: greenletHandler(app) }`),
 *   Hono's `app.fetch`, Bun, and Node through `@hono/node-server`.
 * - {@linkcode greenletListener} does the same for `node:http`'s
 *   `(req, res)` listeners, Express's app among them.
 * - {@linkcode serve} listens with `Deno.serve` on Deno and `node:http` on
 *   Node, and stops gracefully: `stop({ timeout })` stops accepting, waits
 *   for the handlers running up to `timeout`, then kills them and waits for
 *   their `finally` blocks and `shield`ed cleanup, then closes every
 *   connection.
 * - {@linkcode StreamServer} does the same for TCP: a greenlet per
 *   connection (gevent's `StreamServer`), with a hub-aware `Conn` of
 *   `socket.ts`, the same bound and the same `stop({ timeout })`.
 *
 * How a request ends, and what the client (or the framework) sees:
 *
 * | the request's greenlet… | answer | `hub.handleError` |
 * | --- | --- | --- |
 * | returns a `Response` | that response | — |
 * | ran over `timeout` ms: killed, then unwound | **503** | nothing |
 * | client went away (`req.signal`, the response's `close`): killed | **499** (nobody reads it) | nothing |
 * | the server stopped at the deadline: killed | **503**, `connection: close` | nothing |
 * | failed (threw) | the handler's promise **rejects** with the error, for the server's error hook (`serve()`: a plain 500); `greenletListener` calls `next(err)` if mounted as middleware, else 500 | reported once |
 *
 * The server kills with a {@linkcode RequestEnded}, which is not an
 * `Error`: a framework inside the greenlet lets it pass instead of sending
 * it to its error hook (Hono's `onError`), and a kill is never a failure,
 * so an ended request prints nothing anywhere. The handler's promise
 * resolves (with the 499 that no client reads) rather than rejects. When
 * the server ended a request, its status stands whatever the handler made
 * of the kill; for a fallback answer of its own, a handler bounds its work
 * with `withTimeout` inside.
 *
 * On Deno, reading `req.signal` makes `Deno.serve` print a one-time notice
 * about its legacy abort behaviour (the signal also aborts after a
 * successful response); run with `--unstable-no-legacy-abort` to have the
 * new behaviour and no notice. Either way the handler stops listening
 * before it answers, so a completed request is never killed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./mod.ts";
 * import { serve } from "./server.ts";
 * await using server = serve(async (req) => {
 *   await sleep(1); // a switch point: other requests run meanwhile
 *   return Response.json({ path: new URL(req.url).pathname });
 * }, { hostname: "127.0.0.1", port: 0, pool: 100, timeout: 5000 });
 * const { port } = await server.ready;
 * const res = await fetch(`http://127.0.0.1:${port}/hello`);
 * assert.deepEqual(await res.json(), { path: "/hello" });
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { registerAsyncDispose } from "./_imap.ts";
import {
  checkRun,
  handleFetch,
  handleNode,
  InFlight,
  RUN_OPTIONS,
  type Runner,
} from "./_server.ts";
import { type Backend, listen } from "./_server_listen.ts";
import { listenStream } from "./_server_stream.ts";
import type { Conn } from "./socket.ts";
import {
  checkOptions,
  checkSignal,
  checkTimeout,
  describe,
  optionNames,
} from "./_util/mod.ts";
import type { Pool } from "./pool.ts";

/** Where a server listens. */
export interface ServerAddr {
  /** The address it is bound to, as given (`"0.0.0.0"`, `"127.0.0.1"`). */
  hostname: string;
  /** The TCP port (the one picked, for `port: 0`). */
  port: number;
}

/**
 * A request greenlet's name: a fixed string, or a function of the request
 * (`Request` for fetch handlers, `IncomingMessage` for listeners).
 */
export type NameOption<R> = string | ((req: R) => string);

/**
 * `node:http`'s request listener, optionally as middleware (Express's app
 * is one): what {@linkcode greenletListener} wraps.
 */
export type NodeListener = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => unknown;

/**
 * What the server kills a request's greenlet with when the client went
 * away (`"client closed"`), the request ran over its `timeout`
 * (`"timeout"`) or the server stopped (`"stopped"`). Deliberately **not**
 * an `Error`: frameworks send `Error`s to their error hooks (Hono's
 * `onError`, whose default prints them), and a request the server ended is
 * not a failure — Hono lets anything else pass, and `greenletListener`'s
 * final callback drops it before Express's final handler logs it. Like any
 * kill it is never reported to `hub.handleError`; code that wants to tell
 * it apart tests `e instanceof RequestEnded`. The answer is the server's:
 * 499 (nobody reads it), 503, 503 — whatever the handler made of the kill.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./mod.ts";
 * import { greenletHandler, RequestEnded } from "./server.ts";
 * let seen: unknown;
 * const handler = greenletHandler(async () => {
 *   try {
 *     await sleep(1000);
 *     return new Response("late");
 *   } catch (e) {
 *     seen = e;
 *     throw e;
 *   }
 * }, { timeout: 10 });
 * assert.equal((await handler(new Request("http://x/a"))).status, 503);
 * assert.ok(seen instanceof RequestEnded && !(seen instanceof Error));
 * assert.equal(`${seen}`, "RequestEnded: GET /a: timeout after 10 ms");
 * ```
 */
export class RequestEnded {
  /** `"RequestEnded"`. */
  readonly name = "RequestEnded";
  /** Why the server ended the request. */
  readonly reason: "client closed" | "timeout" | "stopped";
  /** The request's greenlet's name and the reason. */
  readonly message: string;
  /** Where the kill was made (for a debugger; never printed by the library). */
  readonly stack: string | undefined;

  /**
   * Made by the server when it ends a request.
   *
   * @param reason Why the server ended the request.
   * @param request The request's greenlet's name.
   * @param ms The timeout, for `"timeout"`.
   */
  constructor(
    reason: "client closed" | "timeout" | "stopped",
    request: string,
    ms = 0,
  ) {
    this.reason = reason;
    this.message = reason === "timeout"
      ? `${request}: timeout after ${ms} ms`
      : `${request}: ${reason}`;
    this.stack = `${this}\n${
      new Error().stack?.split("\n").slice(2).join("\n") ?? ""
    }`;
  }

  /**
   * The kill as text, as an `Error` would print.
   *
   * @returns `"RequestEnded: <request>: <reason>"`.
   */
  toString(): string {
    return `RequestEnded: ${this.message}`;
  }
}

/** Options of {@linkcode greenletHandler} and {@linkcode greenletListener}. */
export interface HandlerOptions<R = Request> {
  /**
   * Bounds how many handlers run at once: a `Pool` (shared with whatever
   * else uses it), or a capacity (an integer ≥ 1) for a pool of this
   * handler's own. Requests beyond it wait, in arrival order, for a slot;
   * one whose client leaves while it waits never runs. Default: no bound.
   */
  pool?: Pool | number | undefined;
  /**
   * Milliseconds a handler may run. Then its greenlet is killed (its waits
   * and patched operations stop, its `finally` and `shield` run) and, once
   * it has unwound, the request is answered **503**. Default: no limit.
   */
  timeout?: number | undefined;
  /**
   * The request's greenlet's name, for `runInfo()`, traces and error
   * reports: a string, or a function of the request. Default: method and
   * path, `"GET /users/7"`.
   */
  name?: NameOption<R> | undefined;
}

/**
 * Makes a fetch handler that runs each request in its own greenlet (see
 * the module's table for how each ending is answered).
 *
 * @param fn The handler: `(req, info) => Response | Promise<Response>`;
 * `info` is what the server passed (Deno's `ServeHandlerInfo`,
 * `@hono/node-server`'s bindings).
 * @param options `pool`, `timeout` (ms), `name`.
 * @returns A fetch handler; its promise rejects only with a real failure
 * of `fn` (already reported to `hub.handleError`).
 * @throws {TypeError} If `fn` is not a function or an option is invalid.
 * @throws {RangeError} If `pool` is a number below 1 or `timeout` < 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getCurrent, sleep } from "./mod.ts";
 * import { greenletHandler } from "./server.ts";
 * const handler = greenletHandler(async (req) => {
 *   await sleep(1);
 *   return new Response(`${getCurrent().name} ran`);
 * });
 * const res = await handler(new Request("http://localhost/users/7?x=1"));
 * assert.equal(await res.text(), "GET /users/7 ran");
 *
 * const slow = greenletHandler(() => sleep(1000).then(() => new Response()), {
 *   timeout: 10,
 * });
 * assert.equal((await slow(new Request("http://localhost/"))).status, 503);
 * ```
 */
export function greenletHandler<I = unknown>(
  fn: (req: Request, info: I) => Response | Promise<Response>,
  options?: HandlerOptions<Request>,
): (req: Request, info?: I) => Promise<Response> {
  return makeHandler("create greenletHandler", fn, options, null);
}

function makeHandler<I>(
  action: string,
  fn: (req: Request, info: I) => Response | Promise<Response>,
  options: HandlerOptions<Request> | undefined,
  inFlight: InFlight | null,
  accepted: ReadonlySet<string> = RUN_OPTIONS,
): (req: Request, info?: I) => Promise<Response> {
  const { pool, timeout, name } = checkRun(action, fn, options, accepted);
  const r: Runner<Request> = { pool, timeout, name, inFlight };
  return (req, info) => handleFetch(r, fn, req, info as I);
}

/**
 * Makes a `node:http` request listener (`(req, res, next?)`) that runs
 * each request in its own greenlet until its response has ended: the
 * handler, and whatever it still does after returning (an Express route's
 * async work). The greenlet is killed when `res` closes before the
 * response finished (the client went away), and by `timeout` (then a 503 is
 * written if no header was sent yet, else the connection is cut). A real
 * failure is reported to `hub.handleError` and passed to `next(err)` when
 * the listener was mounted as middleware, else answered 500.
 *
 * @param fn The listener: `createServer(greenletListener(app))` for an
 * Express app, or any `(req, res) => unknown`.
 * @param options `pool`, `timeout` (ms), `name`.
 * @returns A listener for `http.createServer` or `app.use`.
 * @throws {TypeError} If `fn` is not a function or an option is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createServer } from "node:http";
 * import type { AddressInfo } from "node:net";
 * import { getCurrent, sleep } from "./mod.ts";
 * import { greenletListener } from "./server.ts";
 * const server = createServer(greenletListener(async (req, res) => {
 *   await sleep(1);
 *   res.end(`${getCurrent().name} ran`);
 * }, { pool: 10 }));
 * await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
 * const { port } = server.address() as AddressInfo;
 * const res = await fetch(`http://127.0.0.1:${port}/x?y=1`);
 * assert.equal(await res.text(), "GET /x ran");
 * server.closeAllConnections();
 * await new Promise((r) => server.close(r));
 * ```
 */
export function greenletListener(
  fn: NodeListener,
  options?: HandlerOptions<IncomingMessage>,
): (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => void {
  const { pool, timeout, name } = checkRun(
    "create greenletListener",
    fn,
    options,
  );
  const r: Runner<IncomingMessage> = { pool, timeout, name, inFlight: null };
  return (req, res, next) => handleNode(r, fn, req, res, next);
}

/** Options of {@linkcode serve}. */
export interface ServeOptions extends HandlerOptions<Request> {
  /** The address to bind (default `"0.0.0.0"`). */
  hostname?: string | undefined;
  /** The TCP port (default 8000; 0 picks a free one: see `ready`). */
  port?: number | undefined;
  /** Aborting it stops the server (as `stop()`, no deadline). */
  signal?: AbortSignal | undefined;
  /** Called once listening, with the address. */
  onListen?: ((addr: ServerAddr) => void) | undefined;
}

/** Options of {@linkcode Server.stop}. */
export interface StopOptions {
  /**
   * Milliseconds to wait for the handlers running; then they are killed
   * (and waited for). Default: wait for them however long they take.
   */
  timeout?: number | undefined;
}

const SERVE_OPTIONS = optionNames(
  ...RUN_OPTIONS,
  "hostname",
  "port",
  "signal",
  "onListen",
);
const STOP_OPTIONS = optionNames("timeout");

/**
 * A running server ({@linkcode serve}). `await using server = serve(…)`
 * stops it (without a deadline) at the end of the block.
 */
export class Server implements AsyncDisposable {
  readonly #inFlight: InFlight;
  #backend: Backend | null = null;
  #stopping: Promise<void> | null = null;
  #finish!: () => void;
  /** Resolves with the address once listening; rejects if it cannot bind. */
  readonly ready: Promise<ServerAddr>;
  /** Resolves once the server has stopped and every connection closed. */
  readonly finished: Promise<void>;

  /** @internal Use {@linkcode serve}. */
  constructor(
    inFlight: InFlight,
    listening: Promise<Backend>,
    onListen: ((addr: ServerAddr) => void) | undefined,
  ) {
    this.#inFlight = inFlight;
    this.finished = new Promise<void>((r) => (this.#finish = r));
    this.ready = listening.then((b) => {
      this.#backend = b;
      onListen?.(b.addr);
      return b.addr;
    }, (e) => {
      this.#finish();
      throw e;
    });
    this.ready.catch(() => {}); // never an unhandled rejection
  }

  /**
   * Resolves once listening, with the address: the same promise as
   * {@linkcode Server.ready} (gevent's `server.start()`; the server
   * started listening when it was made).
   *
   * @returns The address (`{ hostname, port }`); rejects if it cannot bind.
   */
  start(): Promise<ServerAddr> {
    return this.ready;
  }

  /**
   * Where it listens, once {@linkcode Server.ready} resolved.
   *
   * @returns `{ hostname, port }`.
   * @throws {Error} Before the server is listening.
   */
  get addr(): ServerAddr {
    if (this.#backend === null) {
      throw new Error(
        "Cannot read addr: the server is not listening yet (await server.ready)",
      );
    }
    return this.#backend.addr;
  }

  /**
   * Stops the server: stops accepting, waits for the handlers running (and
   * those queued for a pool slot) up to `timeout` ms, then kills them and
   * waits for their `finally` blocks and `shield`ed cleanup; requests that
   * arrive meanwhile on open connections are answered 503. Resolves once
   * every connection is closed. Calling it again returns the same promise.
   *
   * @param options `timeout` in milliseconds (default: no deadline).
   * @returns A promise that resolves once stopped.
   */
  stop(options?: StopOptions): Promise<void> {
    checkOptions("stop server", options, STOP_OPTIONS);
    checkTimeout("stop server", options?.timeout);
    this.#stopping ??= this.#stop(options?.timeout ?? Infinity);
    return this.#stopping;
  }

  async #stop(timeout: number): Promise<void> {
    const inFlight = this.#inFlight;
    inFlight.stopping = true;
    try {
      await this.ready;
    } catch {
      return; // never listened: finished already
    }
    const backend = this.#backend!;
    backend.close();
    if (!await inFlight.drain(timeout)) await inFlight.killAll();
    await backend.closed();
    this.#finish();
  }

  /**
   * Stops the server without a deadline (`await using`).
   *
   * @returns A promise that resolves once stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

registerAsyncDispose(Server.prototype);

/**
 * Serves HTTP: `Deno.serve` on Deno; on Node, `node:http` with
 * `@hono/node-server`'s request listener (an optional peer dependency,
 * loaded only then: `npm install @hono/node-server`), each request run by
 * {@linkcode greenletHandler} with the same `pool`, `timeout` and `name`
 * options. It starts listening at once; `ready` resolves with the address.
 * A handler's failure is reported by `hub.handleError` and answered a
 * plain 500.
 *
 * @param fn The fetch handler.
 * @param options `hostname`, `port`, `pool`, `timeout` (ms), `name`,
 * `signal` (stops the server), `onListen`.
 * @returns The server.
 * @throws {TypeError} If `fn` is not a function or an option is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 * const server = serve(() => new Response("hi"), {
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * const { port } = await server.ready;
 * assert.equal(server.addr.port, port);
 * assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hi");
 * await server.stop({ timeout: 1000 });
 * await server.finished;
 * ```
 */
export function serve<I = unknown>(
  fn: (req: Request, info: I) => Response | Promise<Response>,
  options?: ServeOptions,
): Server {
  const action = "serve";
  const inFlight = new InFlight();
  const handler = makeHandler(action, fn, options, inFlight, SERVE_OPTIONS);
  const hostname = options?.hostname ?? "0.0.0.0";
  const port = options?.port ?? 8000;
  if (typeof hostname !== "string") {
    throw new TypeError(
      `Cannot serve: hostname must be a string, received ${describe(hostname)}`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot serve: port must be an integer from 0 to 65535, received ${
        describe(port)
      }`,
    );
  }
  const signal = options?.signal;
  if (signal !== undefined) checkSignal(action, signal);
  const onListen = options?.onListen;
  if (onListen !== undefined && typeof onListen !== "function") {
    throw new TypeError(
      `Cannot serve: onListen must be a function, received ${
        describe(onListen)
      }`,
    );
  }
  const server = new Server(
    inFlight,
    listen(hostname, port, handler as (req: Request) => Promise<Response>),
    onListen,
  );
  if (signal !== undefined) {
    if (signal.aborted) void server.stop();
    else {signal.addEventListener("abort", () => void server.stop(), {
        once: true,
      });}
  }
  return server;
}

/** Where a {@linkcode StreamServer} listens. */
export interface StreamServerAddr {
  /** An IP address or `"localhost"` (default `"0.0.0.0"`). */
  hostname?: string | undefined;
  /** The TCP port; 0 picks a free one (see {@linkcode Server.start}). */
  port: number;
}

/** Options of {@linkcode StreamServer}. */
export interface StreamServerOptions {
  /**
   * Bounds how many handlers run at once: a `Pool` (shared with whatever
   * else uses it) or a capacity (an integer ≥ 1). While it is full the
   * server accepts nothing: new connections wait **unaccepted**, in arrival
   * order, and get their handler (and their greenlet) once a slot is free;
   * those still waiting when the server stops are closed unserved.
   * Default: no bound.
   */
  pool?: Pool | number | undefined;
}

const STREAM_OPTIONS = optionNames("pool");

/**
 * A TCP server with a greenlet per connection — gevent's
 * `StreamServer(listener, handle, spawn=Pool(n))`, on `socket.ts`.
 * It starts listening when made ({@linkcode Server.start} resolves once
 * it does); each accepted connection runs `handle(conn)` in its own
 * greenlet, named `"conn <remote address>:<port>"`, with a hub-aware
 * {@linkcode Conn} (`read`, `readLine`, `write`, `readable`, `writable`,
 * `remoteAddr`, `close()`: a kill or a Timeout reaches each of its waits).
 *
 * - The connection is closed when its handler ends, however it ends
 *   (bytes already written go out first).
 * - A handler's real failure is reported by `hub.handleError`; its
 *   connection is closed and the server goes on.
 * - `stop({ timeout })` stops accepting, waits for the handlers up to
 *   `timeout` ms, then kills them with a {@linkcode RequestEnded}
 *   (`reason: "stopped"`; silent, like every kill) and waits for their
 *   `finally` blocks and `shield`ed cleanup; it resolves once every
 *   connection is closed. `await using` stops it without a deadline.
 *
 * @example Echo, a greenlet per connection
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./socket.ts";
 * import { StreamServer } from "./server.ts";
 * await using server = new StreamServer({ hostname: "127.0.0.1", port: 0 },
 *   async (conn) => {
 *     for await (const chunk of conn) await conn.write(chunk);
 *   }, { pool: 100 });
 * const { port } = await server.start();
 * await using client = await connect({ hostname: "127.0.0.1", port });
 * await client.write("ping\n");
 * assert.equal(await client.readLine(), "ping");
 * ```
 */
export class StreamServer extends Server {
  /**
   * Listens on `addr` and serves each connection with `handle`.
   *
   * @param addr `hostname` (default `"0.0.0.0"`) and `port` (0: a free one).
   * @param handle The handler: `(conn) => unknown`, run in the
   * connection's greenlet; the connection closes when it ends.
   * @param options `pool`: a `Pool` or a capacity.
   * @throws {TypeError} If `handle` is not a function or an option is
   * invalid.
   * @throws {RangeError} If `port` is out of range or `pool` is below 1.
   */
  constructor(
    addr: StreamServerAddr,
    handle: (conn: Conn) => unknown,
    options?: StreamServerOptions,
  ) {
    const action = "create StreamServer";
    const { pool } = checkRun(action, handle, options, STREAM_OPTIONS);
    if (addr === null || typeof addr !== "object") {
      throw new TypeError(
        `Cannot ${action}: addr must be { hostname?, port }, received ${
          describe(addr)
        }`,
      );
    }
    const hostname = addr.hostname ?? "0.0.0.0";
    if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError(
        `Cannot ${action}: hostname must be a non-empty string, received ${
          describe(hostname)
        }`,
      );
    }
    const port = addr.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new (typeof port === "number" ? RangeError : TypeError)(
        `Cannot ${action}: port must be an integer from 0 to 65535, received ${
          describe(port)
        }`,
      );
    }
    const inFlight = new InFlight();
    super(
      inFlight,
      listenStream(hostname, port, handle, pool, inFlight),
      undefined,
    );
  }
}
