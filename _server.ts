/**
 * The servers' private core (server.ts is its face): one greenlet per
 * request, a bound on how many run at once, a deadline, the client's
 * disconnect and the server's stop — each ending the greenlet by a kill,
 * which is never a failure, and each answered with its own status once the
 * greenlet has unwound (its `finally` blocks and `shield`ed cleanup ran).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  nativeClearTimeout,
  nativeSetTimeout,
  outsideGreenlets,
} from "./_core/mod.ts";
import {
  checkFunction,
  checkOptions,
  describe,
  optionNames,
} from "./_util/mod.ts";
import { Event } from "./event.ts";
import { type Greenlet, greenletAt, GreenletExit } from "./greenlet.ts";
import { Pool } from "./pool.ts";
import { cancellable } from "./scope.ts";
import { getHub } from "./hub.ts";
import { type NameOption, type NodeListener, RequestEnded } from "./server.ts";

/** The options every request runner takes (see server.ts). */
export interface RunOptions<R> {
  /** A `Pool`, or a capacity for a pool of this handler's own. */
  pool?: Pool | number | undefined;
  /** Milliseconds a handler may run; then it is killed and answered 503. */
  timeout?: number | undefined;
  /** The greenlet's name (default: method and path, `"GET /users/7"`). */
  name?: NameOption<R> | undefined;
}

export const RUN_OPTIONS: ReadonlySet<string> = optionNames(
  "pool",
  "timeout",
  "name",
);

/** Why the server ended a request's greenlet (0: it did not). */
export const ABORTED = 1, TIMED_OUT = 2, STOPPED = 3;

/** The status answered for a request ended by the client going away (nginx's). */
export const CLIENT_CLOSED = 499;

/** The reasons of the kills the server delivers, by cause. */
const KILL_REASON = ["", "client closed", "timeout", "stopped"] as const;

/** Checks and resolves the shared options; `action` names the caller. */
export function checkRun<R>(
  action: string,
  fn: unknown,
  options: RunOptions<R> | undefined,
  accepted: ReadonlySet<string> = RUN_OPTIONS,
): { pool: Pool | null; timeout: number; name: NameOption<R> | null } {
  checkFunction(action, "fn", fn);
  checkOptions(action, options, accepted);
  const p = options?.pool;
  let pool: Pool | null = null;
  if (p instanceof Pool) pool = p;
  else if (typeof p === "number") {
    if (!Number.isInteger(p) || p < 1) {
      throw new RangeError(
        `Cannot ${action}: pool must be a Pool or a capacity (an integer ≥ 1), received ${p}`,
      );
    }
    pool = new Pool(p);
  } else if (p !== undefined) {
    throw new TypeError(
      `Cannot ${action}: pool must be a Pool or a capacity (an integer ≥ 1), received ${
        describe(p)
      }`,
    );
  }
  const t = options?.timeout;
  if (t !== undefined && (typeof t !== "number" || !(t >= 0))) {
    throw new (typeof t === "number" ? RangeError : TypeError)(
      `Cannot ${action}: timeout must be a number of milliseconds ≥ 0, received ${
        describe(t)
      }`,
    );
  }
  const n = options?.name;
  if (n !== undefined && typeof n !== "string" && typeof n !== "function") {
    throw new TypeError(
      `Cannot ${action}: name must be a string or a function of the request, received ${
        describe(n)
      }`,
    );
  }
  return { pool, timeout: t ?? Infinity, name: n ?? null };
}

/** A running request's place in its server's book (see `InFlight.enter`). */
export interface Slot {
  readonly g: Greenlet;
  /** Its index among the running; -1 once it left. */
  i: number;
  /** Its number in the order of entry (the stop kills in that order). */
  readonly n: number;
}

/**
 * A server's book of its requests, for `stop()`: the greenlets running and
 * the requests waiting for a pool slot, and whether it is stopping.
 *
 * The running ones are an array of slots, a leaving one taking the last
 * one's place — not a `Set` of greenlets: under load on Node 20, adding and
 * deleting a greenlet per request in a long-lived `Set` quadrupled the time
 * spent in young-generation collections (330 ms against 86 ms over 3 s of
 * autocannon on `serve()`, `--trace-gc`).
 */
export class InFlight {
  #running: Slot[] = [];
  #entered = 0;
  queued = 0;
  stopping = false;
  /** Aborted at the stop's deadline: the requests still queued give up. */
  readonly deadline: AbortController = new AbortController();
  #idle: Event | null = null;

  /** How many requests run now. */
  get running(): number {
    return this.#running.length;
  }

  /** `g` runs: its slot, for {@linkcode leave}. */
  enter(g: Greenlet): Slot {
    const slot: Slot = { g, i: this.#running.length, n: this.#entered++ };
    this.#running.push(slot);
    return slot;
  }

  /** A request ended (`null`: one that never ran). */
  leave(slot: Slot | null): void {
    const a = this.#running;
    if (slot !== null && slot.i !== -1) {
      const last = a.pop()!;
      if (last !== slot) {
        a[slot.i] = last;
        last.i = slot.i;
      }
      slot.i = -1;
    }
    if (this.#idle !== null && a.length === 0 && this.queued === 0) {
      this.#idle.set();
    }
  }

  /** Waits until no request runs or waits, at most `timeout` ms. */
  drain(timeout: number): Promise<boolean> {
    if (this.#running.length === 0 && this.queued === 0) {
      return Promise.resolve(true);
    }
    this.#idle ??= new Event();
    return this.#idle.wait(timeout);
  }

  /** Kills what still runs, cancels what still waits; resolves once all ended. */
  async killAll(): Promise<void> {
    this.deadline.abort(new GreenletExit("the server is stopping"));
    const left = this.#running.slice().sort((a, b) => a.n - b.n).map((s) =>
      s.g
    );
    for (const g of left) markKilled(g, STOPPED);
    await Promise.all(left.map((g) => g.join()));
    await this.drain(Infinity);
  }
}

const causes = new WeakMap<Greenlet, number>();

/**
 * Kills `g` for `why` unless something else already did; never blocks.
 * The kill's error is a {@linkcode RequestEnded}, not an `Error`: see
 * server.ts.
 */
export function markKilled(g: Greenlet, why: number, ms = 0): void {
  if (g.dead || causes.has(g)) return;
  causes.set(g, why);
  const reason = KILL_REASON[why] as "client closed" | "timeout" | "stopped";
  void g.kill(new RequestEnded(reason, g.name, ms), { block: false });
}

/** Why the server killed `g` (0 if it did not). */
export function causeOf(g: Greenlet): number {
  return causes.get(g) ?? 0;
}

function defaultName(
  method: string | undefined,
  url: string | undefined,
): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  let path = q === -1 ? u : u.slice(0, q);
  if (path.charCodeAt(0) !== 47) { // absolute URL: keep its path
    const s = path.indexOf("/", path.indexOf("//") + 2);
    path = s === -1 ? "/" : path.slice(s);
  }
  return `${method ?? "GET"} ${path}`;
}

/** The options a request runner was made with, resolved. */
export interface Runner<R> {
  pool: Pool | null;
  timeout: number;
  name: NameOption<R> | null;
  inFlight: InFlight | null;
}

/**
 * One request's run: its greenlet, what tells that the client left, the
 * deadline's timer. The greenlet starts at once when the pool has a free
 * slot (`add` into a free slot tracks it without waiting), else once it
 * got one. A request whose client leaves while it waits is killed there
 * (a greenlet killed before it started never runs): it keeps its place in
 * the queue and gives the slot back at once when its turn comes.
 */
export class Run<R, T> {
  readonly r: Runner<R>;
  readonly g: Greenlet;
  timer: unknown = null;
  #slot: Slot | null = null;
  #resolve: ((v: T) => void) | null = null;
  #reject: ((e: unknown) => void) | null = null;

  constructor(r: Runner<R>, g: Greenlet) {
    this.r = r;
    this.g = g;
  }

  /** The answer once the greenlet ended (may throw its failure). */
  settle(): T {
    throw new Error("gevent-ts: Run.settle() is a subclass's");
  }

  /** The answer when the greenlet never started. */
  notStarted(): T {
    throw new Error("gevent-ts: Run.notStarted() is a subclass's");
  }

  /**
   * Starts the greenlet (after a pool slot); resolves with `settle()`'s
   * value once it ended, or with `notStarted()`'s if it never started.
   */
  run(): Promise<T> {
    const { pool, inFlight } = this.r;
    const g = this.g;
    if (pool === null || pool.freeCount() > 0) {
      if (pool !== null) void pool.add(g); // a free slot: tracked now
      return this.#start();
    }
    return this.#queued(pool, inFlight);
  }

  async #queued(pool: Pool, inFlight: InFlight | null): Promise<T> {
    const g = this.g;
    if (inFlight !== null) inFlight.queued++;
    let ok = false;
    try {
      ok = await pool.add(
        g,
        inFlight === null ? undefined : { signal: inFlight.deadline.signal },
      );
    } catch { /* the server's stop gave up on it */ }
    if (inFlight !== null) inFlight.queued--;
    if (ok && !g.dead && inFlight?.deadline.signal.aborted === true) {
      g.kill(undefined, { block: false }); // never runs; frees the slot
    }
    if (!ok || g.dead) {
      inFlight?.leave(null);
      return this.notStarted();
    }
    return await this.#start();
  }

  #start(): Promise<T> {
    const g = this.g;
    if (g.dead) return Promise.resolve(this.notStarted());
    const { inFlight, timeout } = this.r;
    if (inFlight !== null) this.#slot = inFlight.enter(g);
    g.start();
    if (timeout !== Infinity) {
      this.timer = nativeSetTimeout(
        () => markKilled(g, TIMED_OUT, timeout),
        timeout,
      );
    }
    // not join(): a wait of main would make the hub resume main, which
    // then runs on (answering) until a probe finds it away, holding every
    // other greenlet back meanwhile; a link settles a plain promise (a raw
    // one: it needs no current greenlet, and a link's `als.run` as main
    // costs ~0.7 µs a request on Deno)
    const p = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    g.rawlink(() => this.#ended());
    return p;
  }

  /** The greenlet ended (its rawlink). */
  #ended(): void {
    if (this.timer !== null) nativeClearTimeout(this.timer);
    const inFlight = this.r.inFlight;
    if (inFlight !== null) inFlight.leave(this.#slot);
    try {
      this.#resolve!(this.settle());
    } catch (e) {
      this.#reject!(e);
    }
  }
}

/** The response of @hono/node-server's bindings (`info.outgoing`), if any. */
function outgoingOf(info: unknown): ServerResponse | null {
  const out = (info as { outgoing?: ServerResponse } | undefined)?.outgoing;
  return out !== undefined && out !== null && typeof out.once === "function"
    ? out
    : null;
}

/** A fetch handler's request, run in a greenlet (greenletHandler). */
export function handleFetch<I>(
  r: Runner<Request>,
  fn: (req: Request, info: I) => Response | Promise<Response>,
  req: Request,
  info: I,
): Promise<Response> {
  if (r.inFlight?.stopping === true) {
    return Promise.resolve(stoppedResponse());
  }
  // outside any greenlet's context: the server's callbacks may carry the
  // context of whoever started it (Deno.serve keeps it), which may be gone
  return outsideGreenlets(startFetch, r, fn, req, info);
}

/** A fetch request's run, and what tells it that the client left. */
class FetchRun extends Run<Request, Response> {
  readonly out: ServerResponse | null;
  readonly signal: AbortSignal | null;
  readonly onGone: () => void;

  constructor(
    r: Runner<Request>,
    g: Greenlet,
    out: ServerResponse | null,
    signal: AbortSignal | null,
  ) {
    super(r, g);
    this.out = out;
    this.signal = signal;
    if (out !== null) {
      this.onGone = () => {
        if (!out.writableFinished) markKilled(g, ABORTED);
      };
      out.once("close", this.onGone);
    } else {
      this.onGone = () => markKilled(g, ABORTED);
      signal!.addEventListener("abort", this.onGone);
    }
  }

  detach(): void {
    if (this.out !== null) this.out.off("close", this.onGone);
    else this.signal!.removeEventListener("abort", this.onGone);
  }

  /** The answer once the greenlet ended (throws its failure). */
  override settle(): Response {
    this.detach();
    const g = this.g;
    // the server ended it: its answer, whatever the handler made of the
    // kill (a framework's error handler that caught it answered nobody)
    const why = causeOf(g);
    if (why !== 0) {
      return why === ABORTED
        ? clientClosedResponse()
        : why === TIMED_OUT
        ? timedOutResponse(this.r.timeout)
        : stoppedResponse();
    }
    if (!g.successful()) throw g.exception; // reported by hub.handleError
    return g.value as Response;
  }

  override notStarted(): Response {
    this.detach();
    return causeOf(this.g) === ABORTED
      ? clientClosedResponse()
      : stoppedResponse();
  }
}

/**
 * A node:http request's run (answers whether its greenlet started), and
 * what tells that the client left: its response's `close` before it
 * finished.
 */
class NodeRun extends Run<IncomingMessage, boolean> {
  readonly res: ServerResponse;
  readonly onGone: () => void;

  constructor(r: Runner<IncomingMessage>, g: Greenlet, res: ServerResponse) {
    super(r, g);
    this.res = res;
    this.onGone = () => {
      if (!res.writableFinished) markKilled(g, ABORTED);
    };
    res.once("close", this.onGone);
  }

  override settle(): boolean {
    this.res.off("close", this.onGone);
    return true;
  }

  override notStarted(): boolean {
    this.res.off("close", this.onGone);
    return false;
  }
}

function startFetch<I>(
  r: Runner<Request>,
  fn: (req: Request, info: I) => Response | Promise<Response>,
  req: Request,
  info: I,
): Promise<Response> {
  // the client going away: on Node (@hono/node-server) the response's
  // close, cheaper than materializing req.signal; elsewhere req.signal
  const out = outgoingOf(info);
  const signal = out === null ? req.signal : null;
  if (signal?.aborted === true || out?.destroyed === true) {
    return Promise.resolve(clientClosedResponse());
  }
  const g = greenletAt(null, fn, [req, info]); // its site: ours, not captured
  const n = r.name;
  g.name = n === null
    ? defaultName(req.method, req.url)
    : typeof n === "string"
    ? n
    : n(req);
  const call = new FetchRun(r, g, out, signal);
  return call.run();
}

function clientClosedResponse(): Response {
  return new Response(null, { status: CLIENT_CLOSED });
}

export function timedOutResponse(ms: number): Response {
  return new Response(`Service Unavailable: the handler ran over ${ms} ms\n`, {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

export function stoppedResponse(): Response {
  return new Response("Service Unavailable: the server is stopping\n", {
    status: 503,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "connection": "close",
    },
  });
}

/** A node:http request, run in a greenlet until its response ended (greenletListener). */
export function handleNode(
  r: Runner<IncomingMessage>,
  fn: NodeListener,
  req: IncomingMessage,
  res: ServerResponse,
  next: ((err?: unknown) => void) | undefined,
): void {
  void outsideGreenlets(runNode, r, fn, req, res, next);
}

async function runNode(
  r: Runner<IncomingMessage>,
  fn: NodeListener,
  req: IncomingMessage,
  res: ServerResponse,
  next: ((err?: unknown) => void) | undefined,
): Promise<void> {
  const call: NodeCall = { fn, req, res, next, g: null };
  const g = greenletAt(null, nodeBody, [call]); // its site: ours, not captured
  call.g = g;
  const n = r.name;
  g.name = n === null
    ? defaultName(req.method, req.url)
    : typeof n === "string"
    ? n
    : n(req);
  const started = await new NodeRun(r, g, res).run();
  if (res.writableFinished || res.destroyed) return;
  if (!started) return answerNode(res, stoppedResponse());
  const why = causeOf(g);
  if (why !== 0) {
    if (res.headersSent) res.destroy();
    else {
      answerNode(
        res,
        why === TIMED_OUT ? timedOutResponse(r.timeout) : stoppedResponse(),
      );
    }
    return;
  }
  if (!g.successful()) { // reported by hub.handleError
    if (next !== undefined) return next(g.exception);
    if (!res.headersSent) {
      return answerNode(
        res,
        new Response("Internal Server Error\n", { status: 500 }),
      );
    }
    res.destroy();
  }
}

function answerNode(res: ServerResponse, response: Response): void {
  void response.text().then((body) => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string> = {};
    response.headers.forEach((v, k) => (headers[k] = v));
    res.writeHead(response.status, headers);
    res.end(body);
  });
}

/** One node:http request's call, as its greenlet runs it. */
interface NodeCall {
  fn: NodeListener;
  req: IncomingMessage;
  res: ServerResponse;
  next: ((err?: unknown) => void) | undefined;
  g: Greenlet | null;
}

/**
 * The greenlet of a node:http request: the listener, then the response's
 * end (a listener that answers later — an Express route — keeps its
 * greenlet until then, so a kill reaches what it still does). The listener
 * gets a final callback as its third argument (Express's `app(req, res,
 * done)` uses it instead of its own final handler): an error the server's
 * kill caused ends there silently; a real one goes to the caller's `next`
 * (mounted as middleware), else to `hub.handleError` and a 500; no error
 * at all (no route matched) is a 404.
 */
async function nodeBody(call: NodeCall): Promise<void> {
  const { fn, req, res } = call;
  await fn(req, res, (err?: unknown) => finalCallback(call, err));
  if (res.writableFinished || res.destroyed) return;
  await cancellable(
    new Promise<void>((resolve) => {
      res.once("finish", resolve);
      res.once("close", resolve);
    }),
  );
}

function finalCallback(call: NodeCall, err: unknown): void {
  const { g, req, res, next } = call;
  if (
    err instanceof RequestEnded || (g !== null && causeOf(g) !== 0)
  ) return; // the server ended the request and answers it
  if (next !== undefined) return next(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (
    err === undefined || err === null || err === "route" || err === "router"
  ) {
    return answerNode(
      res,
      new Response(
        `Cannot ${req.method} ${defaultName("", req.url).slice(1)}\n`,
        {
          status: 404,
        },
      ),
    );
  }
  if (g !== null) getHub().handleError(g, err);
  answerNode(res, new Response("Internal Server Error\n", { status: 500 }));
}
