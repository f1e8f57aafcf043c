/**
 * Sockets a kill always reaches: TCP (and TLS) connections and listeners
 * whose every wait — `connect`, `listen`, `accept`, `read`, `readLine`,
 * `write` under back-pressure — is a switch point of the calling greenlet,
 * as gevent's cooperative `socket` is.
 *
 * - A **kill** delivered during a wait rejects it at once and closes what it
 *   waited on: the connection being made, read or written (buffered bytes
 *   are dropped), or the listener an `accept` waited on.
 * - A **Timeout** (`withTimeout`, `Timeout.start`) rejects the wait at once
 *   and closes nothing but what is still being made (a connection, a
 *   listener being bound): bytes that
 *   arrived stay buffered and the next read returns them; the bytes of a
 *   timed-out write stay queued and go out before later writes; an
 *   accepted connection waits for the next `accept`.
 *
 * One implementation over `node:net` and `node:tls`, the same on Deno and
 * Node.
 *
 * @example Echo over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, spawn } from "./mod.ts";
 * import { connect, listen } from "./socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * const server = spawn(async () => {
 *   await using conn = await listener.accept();
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * await using client = await connect(listener.addr);
 * await client.write("hello\n");
 * assert.equal(await client.readLine(), "hello");
 * client.closeWrite();
 * assert.equal(await client.read(), null);
 * await joinAll([server], { raiseError: true });
 * ```
 *
 * @module
 */

import { connect as netConnect, createServer, isIP, Socket } from "node:net";
import type { Server } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import {
  currentScope,
  hubCoreOf,
  settle,
  trackOp,
  unhindered,
  type Waiter,
  WaiterList,
  waitOn,
} from "./_core/mod.ts";
import { describe } from "./_util/mod.ts";
import { registerAsyncDispose } from "./_imap.ts";
import { type Addr, Conn } from "./_net/conn.ts";
import { denoDuplex } from "./_net/deno.ts";
import "./mod.ts";

export { type Addr, Conn, type ReadLineOptions } from "./_net/conn.ts";

/** A connected `node:net` socket made a {@linkcode Conn}. */
function connOf(s: Socket): Conn {
  return new Conn(
    s,
    { hostname: s.remoteAddress ?? "", port: s.remotePort ?? 0 },
    { hostname: s.localAddress ?? "", port: s.localPort ?? 0 },
  );
}

/**
 * What {@linkcode wrap} accepts besides a `node:net` socket: a `Deno.Conn`
 * (from `Deno.connect`, `Deno.listen`, `Deno.connectTls`), or any
 * connection with its `read`/`write`/`closeWrite`/`close` methods.
 */
export interface DenoConnLike {
  /** Reads into `p`: the byte count, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some bytes of `p`: the byte count. */
  write(p: Uint8Array): Promise<number>;
  /** Ends the writing half. */
  closeWrite(): Promise<void>;
  /** Closes the connection. */
  close(): void;
  /** The other end's address (`{ hostname, port }` for TCP). */
  readonly remoteAddr: unknown;
  /** This end's address. */
  readonly localAddr: unknown;
}

function webAddr(a: unknown): Addr {
  const { hostname, port } = (a ?? {}) as {
    hostname?: unknown;
    port?: unknown;
  };
  return {
    hostname: typeof hostname === "string" ? hostname : "",
    port: typeof port === "number" ? port : 0,
  };
}

/** TLS settings of {@linkcode connect} (passed to `node:tls`). */
export interface TlsOptions {
  /** The server name for SNI and the certificate check (default: hostname). */
  readonly servername?: string | undefined;
  /** Trusted CA certificates, PEM (default: the runtime's). */
  readonly ca?: string | readonly string[] | undefined;
  /** Whether to check the server's certificate (default true). */
  readonly rejectUnauthorized?: boolean | undefined;
}

/** Where {@linkcode connect} connects. */
export interface ConnectOptions {
  /** The host's name or IP address (default `"127.0.0.1"`). */
  readonly hostname?: string | undefined;
  /** The TCP port, 1–65535. */
  readonly port: number;
  /** Speak TLS: `true` or TLS settings (default: plain TCP). */
  readonly tls?: boolean | TlsOptions | undefined;
}

/** Where {@linkcode listen} listens. */
export interface ListenOptions {
  /** An IP address or `"localhost"` (default `"0.0.0.0"`: every IPv4 one). */
  readonly hostname?: string | undefined;
  /** The TCP port; 0 picks a free one (see {@linkcode Listener.addr}). */
  readonly port: number;
}

function checkPort(action: string, port: unknown, min: number): void {
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < min ||
    port > 65535
  ) {
    throw new (typeof port === "number" ? RangeError : TypeError)(
      `Cannot ${action}: port must be an integer from ${min} to 65535, received ${
        describe(port)
      }`,
    );
  }
}

function checkHost(action: string, hostname: unknown): void {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `Cannot ${action}: hostname must be a non-empty string, received ${
        describe(hostname)
      }`,
    );
  }
}

/**
 * Opens a TCP connection (TLS with `tls`): a switch point until it is
 * established (and the TLS handshake done). A kill or a Timeout during it
 * rejects at once and destroys the socket.
 *
 * @param options `hostname` (default `"127.0.0.1"`), `port`, `tls`.
 * @returns The connection.
 * @throws {TypeError} When an option is not of its type (at once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withTimeout } from "./mod.ts";
 * import { connect, listen } from "./socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * await using conn = await withTimeout(1000, () => connect(listener.addr));
 * assert.equal(conn.remoteAddr.port, listener.addr.port);
 * ```
 */
export function connect(options: ConnectOptions): Promise<Conn> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot connect: options must be an object, received ${
        describe(options)
      }`,
    );
  }
  const host = options.hostname ?? "127.0.0.1";
  checkHost("connect", host);
  const port = options.port;
  checkPort("connect", port, 1);
  const tls = options.tls;
  if (
    tls !== undefined && typeof tls !== "boolean" && typeof tls !== "object"
  ) {
    throw new TypeError(
      `Cannot connect: tls must be a boolean or TLS options, received ${
        describe(tls)
      }`,
    );
  }
  let sock: Socket | null = null;
  return trackOp(
    `connect to ${host}:${port}${tls ? " (TLS)" : ""}`,
    () =>
      new Promise<Conn>((resolve, reject) => {
        const s = sock = tls
          ? tlsConnect({
            host,
            port,
            servername: isIP(host) === 0 ? host : undefined,
            ...(typeof tls === "object" ? tls : {}),
          } as ConnectionOptions)
          : netConnect({ host, port, allowHalfOpen: true });
        const event = tls ? "secureConnect" : "connect";
        const done = () => {
          s.off(event, ok);
          s.off("error", fail);
          s.off("close", closed);
        };
        const ok = () => {
          done();
          resolve(connOf(s));
        };
        const fail = (e: unknown) => {
          done();
          s.destroy();
          reject(e);
        };
        const closed = () => {
          done();
          reject(new Error(`Cannot connect to ${host}:${port}: closed`));
        };
        s.on(event, ok);
        s.on("error", fail);
        s.on("close", closed);
      }),
    () => sock?.destroy(),
  );
}

/**
 * Listens for TCP connections: a switch point until the address is bound
 * (Node binds asynchronously). A kill or Timeout during it closes the
 * listener.
 *
 * @param options `hostname` (an IP address or `"localhost"`, default
 * `"0.0.0.0"`) and `port` (0: a free one).
 * @returns The listener.
 * @throws {TypeError} When an option is not of its type (at once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen } from "./socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * assert.equal(listener.addr.hostname, "127.0.0.1");
 * assert.ok(listener.addr.port > 0);
 * ```
 */
export function listen(options: ListenOptions): Promise<Listener> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot listen: options must be an object, received ${describe(options)}`,
    );
  }
  const host = options.hostname ?? "0.0.0.0";
  checkHost("listen", host);
  const port = options.port;
  checkPort("listen", port, 0);
  let server: Server | null = null;
  return trackOp(
    `listen on ${host}:${port}`,
    () =>
      new Promise<Listener>((resolve, reject) => {
        const s = server = createServer({ allowHalfOpen: true });
        const listening = () => {
          s.off("error", fail);
          resolve(new Listener(s));
        };
        const fail = (e: unknown) => {
          s.off("listening", listening);
          s.close();
          reject(e);
        };
        s.once("listening", listening);
        s.once("error", fail);
        s.listen(port, host);
      }),
    () => server?.close(),
  );
}

/**
 * Makes a {@linkcode Conn} of a connected `node:net` or `node:tls` socket
 * (one from a library or an `http` upgrade), or of a `Deno.Conn`
 * ({@linkcode DenoConnLike}). The Conn reads
 * it from now on: read it only through the Conn.
 *
 * @param socket The connection.
 * @returns The Conn.
 * @throws {TypeError} When `socket` is neither a `node:net` Socket nor a
 * Deno.Conn, or is destroyed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect as netConnect } from "node:net";
 * import { listen, wrap } from "./socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * const raw = netConnect(listener.addr.port, "127.0.0.1");
 * await new Promise((r) => raw.once("connect", r));
 * await using conn = wrap(raw);
 * await using peer = await listener.accept();
 * await peer.write("hi\n");
 * assert.equal(await conn.readLine(), "hi");
 * ```
 */
export function wrap(socket: Socket | DenoConnLike): Conn {
  if (socket instanceof Socket && !socket.destroyed) return connOf(socket);
  if (
    !(socket instanceof Socket) && typeof socket === "object" &&
    socket !== null && typeof socket.read === "function" &&
    typeof socket.write === "function" && typeof socket.close === "function"
  ) {
    return new Conn(
      denoDuplex(socket),
      webAddr(socket.remoteAddr),
      webAddr(socket.localAddr),
    );
  }
  throw new TypeError(
    `Cannot wrap: socket must be a connected node:net Socket or a Deno.Conn, received ${
      socket instanceof Socket ? "a destroyed Socket" : describe(socket)
    }`,
  );
}

class AcceptSource {
  readonly listener: Listener;
  constructor(listener: Listener) {
    this.listener = listener;
  }
  toString(): string {
    return `accept on ${this.listener}`;
  }
}

/**
 * A listening TCP socket (from {@linkcode listen}): `accept()` connections
 * one by one or with `for await`. Connections that arrive while nobody
 * accepts wait in order (they are read into their buffer meanwhile).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * await using client = await connect(listener.addr);
 * for await (const conn of listener) {
 *   assert.equal(conn.remoteAddr.port, client.localAddr.port);
 *   await conn.close();
 *   break;
 * }
 * ```
 */
export class Listener {
  readonly #server: Server;
  /** The bound address (with the port picked when 0 was asked for). */
  readonly addr: Addr;
  readonly #queued: Conn[] = [];
  readonly #acceptors = new WaiterList();
  readonly #source: AcceptSource;
  #closed: Error | null = null;
  readonly #whenClosed: Promise<void>;

  /** Internal: made by {@linkcode listen}. */
  constructor(server: Server) {
    this.#server = server;
    const a = server.address();
    this.addr = typeof a === "object" && a !== null
      ? { hostname: a.address, port: a.port }
      : { hostname: String(a), port: 0 };
    this.#source = new AcceptSource(this);
    this.#whenClosed = new Promise((r) => server.once("close", r));
    server.on("connection", this.#onConnection);
  }

  #onConnection = (sock: Socket): void => {
    const conn = connOf(sock);
    const w = this.#acceptors.shift();
    if (w === null) this.#queued.push(conn);
    else {
      hubCoreOf(w.task).quiet.noteOp(-1);
      settle(w, true, conn);
    }
  };

  /**
   * The next connection: one that arrived already, else waits for one (a
   * switch point). A kill during the wait closes the listener; a Timeout
   * does not.
   *
   * @returns The connection.
   * @throws {Error} Once the listener is closed.
   */
  accept(): Promise<Conn> {
    const scope = currentScope();
    if (unhindered(scope)) {
      const conn = this.#queued.shift();
      if (conn !== undefined) return Promise.resolve(conn);
      if (this.#closed !== null) return Promise.reject(this.#closed);
    }
    let w: Waiter | null = null;
    w = waitOn(scope, this.#source, {
      list: this.#acceptors,
      abort: () => this.#abortAccept(w!),
    });
    if (w.active) hubCoreOf(w.task).quiet.noteOp(1);
    return w.promise as Promise<Conn>;
  }

  #abortAccept(w: Waiter): void {
    hubCoreOf(w.task).quiet.noteOp(-1);
    const stop = w.task.stop;
    if (stop !== null && stop.level && stop.source === null) this.close();
  }

  /**
   * Stops listening: waiting `accept()`s reject with an `Error`, connections
   * not accepted yet are closed. Closing twice does nothing.
   *
   * @returns A promise that resolves once the listening socket and every
   * connection it accepted are closed (Node's `server.close()`).
   */
  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = new Error(`Cannot accept on ${this}: it is closed`);
      this.#server.close();
      for (const conn of this.#queued.splice(0)) conn.close();
      let w: Waiter | null;
      while ((w = this.#acceptors.shift()) !== null) {
        hubCoreOf(w.task).quiet.noteOp(-1);
        settle(w, false, this.#closed);
      }
    }
    return this.#whenClosed;
  }

  /** Closes the listener: `await using listener = await listen(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The accepted connections, until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Conn, void, undefined> {
    for (;;) {
      let conn: Conn;
      try {
        conn = await this.accept();
      } catch (e) {
        if (e === this.#closed) return;
        throw e;
      }
      yield conn;
    }
  }

  /** E.g. `Listener(127.0.0.1:8000)`. */
  toString(): string {
    return `Listener(${this.addr.hostname}:${this.addr.port})`;
  }
}

registerAsyncDispose(Listener.prototype);
