/**
 * `StreamServer`'s private core (server.ts is its face): an acceptor
 * greenlet over `socket.ts`'s `Listener`, a greenlet per accepted
 * connection, the pool's bound taken **before** accepting (connections
 * beyond it wait unaccepted, in the listener's queue, in arrival order —
 * gevent's StreamServer stops accepting while its pool is full), and the
 * connection closed whenever its handler ends.
 *
 * @module
 */
import { outsideGreenlets } from "./_core/mod.ts";
import { Greenlet } from "./greenlet.ts";
import type { Pool } from "./pool.ts";
import type { InFlight, Slot } from "./_server.ts";
import type { Backend } from "./_server_listen.ts";
import { type Conn, listen, type Listener } from "./socket.ts";

/** A connection handler as `StreamServer` runs it. */
export type ConnHandler = (conn: Conn) => unknown;

/** The state of one stream server's listening half. */
class StreamBackend implements Backend {
  readonly listener: Listener;
  readonly acceptor: Greenlet;
  readonly addr: { hostname: string; port: number };
  /** The close of every connection handed to a handler. */
  readonly closing: Set<Promise<void>> = new Set();

  constructor(listener: Listener, acceptor: Greenlet) {
    this.listener = listener;
    this.acceptor = acceptor;
    this.addr = { ...listener.addr };
  }

  close(): void {
    void this.listener.close(); // a waiting accept() rejects: the loop ends
    void this.acceptor.kill(undefined, { block: false }); // or its pool wait
  }

  async closed(): Promise<void> {
    await this.acceptor.join();
    await this.listener.close();
    await Promise.all(this.closing);
  }
}

/**
 * Starts the acceptor greenlet (outside the caller's greenlet context:
 * it must not inherit a scope or a timeout); resolves with the backend
 * once listening, rejects if it cannot bind.
 */
export function listenStream(
  hostname: string,
  port: number,
  handle: ConnHandler,
  pool: Pool | null,
  inFlight: InFlight,
): Promise<Backend> {
  return outsideGreenlets(() =>
    new Promise<Backend>((resolve, reject) => {
      const args: AcceptArgs = {
        hostname,
        port,
        handle,
        pool,
        inFlight,
        resolve,
        reject,
        self: null,
      };
      const acceptor = args.self = new Greenlet(acceptLoop, args);
      acceptor.name = `StreamServer ${hostname}:${port}`;
      acceptor.start();
    })
  );
}

interface AcceptArgs {
  hostname: string;
  port: number;
  handle: ConnHandler;
  pool: Pool | null;
  inFlight: InFlight;
  resolve: (b: Backend) => void;
  reject: (e: unknown) => void;
  self: Greenlet | null;
}

async function acceptLoop(a: AcceptArgs): Promise<void> {
  let listener: Listener;
  try {
    listener = await listen({ hostname: a.hostname, port: a.port });
  } catch (e) {
    a.reject(e);
    return;
  }
  const backend = new StreamBackend(listener, a.self!);
  a.self!.name = `StreamServer ${listener.addr.hostname}:${listener.addr.port}`;
  a.resolve(backend);
  const { pool, inFlight } = a;
  for (;;) {
    if (pool !== null) await pool.waitAvailable(); // a slot, then accept
    let conn: Conn;
    try {
      conn = await listener.accept();
    } catch {
      return; // closed: the server is stopping
    }
    const g = new Greenlet(a.handle, conn);
    const r = conn.remoteAddr;
    g.name = `conn ${r.hostname}:${r.port}`;
    let slot: Slot | null = null;
    g.link(() => {
      const closing = conn.close();
      backend.closing.add(closing);
      inFlight.leave(slot);
    });
    if (pool !== null) {
      try {
        await pool.add(g); // at once, unless a shared pool took the slot
      } catch (e) {
        g.kill(undefined, { block: false }); // never runs; link closes conn
        throw e;
      }
    }
    if (g.dead) continue;
    slot = inFlight.enter(g);
    g.start();
  }
}
