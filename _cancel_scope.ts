/**
 * The scope of a bounded body — `withTimeout`, `moveOnAfter`, `failAfter`:
 * a child scope of the current greenlet, cancelled (level-triggered) at its
 * deadline or by `cancel()`, that ends when its body has; a body away in an
 * await the hub does not own once it is cancelled is detached. Private:
 * timeout.ts and scope.ts build on it.
 *
 * @module
 */

import {
  als,
  type AwayWatcher,
  closeScope,
  currentScope,
  dropDetached,
  isCancellation,
  MAX_DELIVERIES,
  NO_OPTIONS,
  noteDetached,
  type Pending,
  Scope,
  spawnSites,
  throwInto,
  type Timer,
  unhindered,
  unwatchAway,
  waitOn,
  watchAway,
} from "./_core/mod.ts";
import { timeLeft, userSite } from "./_util/mod.ts";

/** How a scope that caught its own cancellation settles. */
export const MOVE_ON = 0, FAIL = 1, VALUE = 2;

const RUNNING = 0, CANCELLED = 1, ENDED = 2;

let expire: (scope: unknown) => void;
let checkDetach: (scope: unknown) => void;

/** The first cancellation (level-triggered) of the scopes around `scope`, up to a shield. */
function outerCancellation(scope: BodyScope): Pending | null {
  if (scope.shielded) return null;
  for (let s: Scope | null = scope.outer; s !== null; s = s.outer) {
    const p = s.stop;
    if (p !== null && p.level) return p;
    if (s.shielded) break;
  }
  return null;
}

/**
 * The scope of one bounded body. It ends when the body has: once cancelled
 * (its deadline, `cancel()`) every wait inside it rejects and the body
 * unwinds; if the body is then away in an await the hub does not own, it
 * is detached — the call settles — and goes on cancelled. A cancellation
 * of its own that the body ends with is caught here (`caught`) unless a
 * scope around it is cancelled too: then that one's error passes through
 * (Trio's rule: the outermost cancelled scope catches).
 */
export class BodyScope extends Scope implements AwayWatcher {
  /** The scope's Timeout: thrown into the body at its deadline. */
  readonly timeout: Error;
  /** `withTimeout`, `moveOnAfter` or `failAfter`: how run info names it. */
  readonly kind: string;
  /** The `ms` it was created with. */
  readonly ms: number;
  readonly #mode: number;
  readonly #value: unknown;
  readonly #shield: boolean;
  readonly #res: (v: unknown) => void;
  readonly #rej: (e: unknown) => void;
  #timer: Timer | null = null;
  #deadline = Infinity;
  #state = RUNNING;
  /** Whether its deadline cancelled it (not a `cancel()` call). */
  #expired = false;
  /** What was thrown into the body: the Timeout or `cancel(reason)`'s reason. */
  #error: unknown = undefined;
  /** Cancelled, by its deadline or by hand. */
  cancelCalled = false;
  /** Ended because it was cancelled, and caught that. */
  caught = false;
  /** Settled at its cancellation while the body was away. */
  detached = false;
  /** Where it was created, while spawn sites are recorded. */
  readonly site: string | null;

  static {
    expire = (s) => (s as BodyScope).#expire();
    checkDetach = (s) => (s as BodyScope).#checkDetach();
  }

  constructor(
    outer: Scope,
    kind: string,
    ms: number,
    timeout: Error,
    mode: number,
    value: unknown,
    shield: boolean,
    res: (v: unknown) => void,
    rej: (e: unknown) => void,
  ) {
    super(outer.task, outer);
    this.kind = kind;
    this.ms = ms;
    this.timeout = timeout;
    this.#mode = mode;
    this.#value = value;
    this.#shield = shield;
    this.#res = res;
    this.#rej = rej;
    this.site = spawnSites ? userSite() : null;
    if (ms !== Infinity) {
      const t = this.#timer = outer.task.core.addTimer(ms, expire, this);
      this.#deadline = t.deadline;
    }
  }

  /** Whether cancellation from outer scopes stops here (`{ shield: true }`). */
  override get shielded(): boolean {
    return this.#shield;
  }

  /** Its deadline, in hub-clock ms (Infinity: none). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Moves its deadline (hub-clock ms); re-arms while it runs uncancelled. */
  set deadline(deadline: number) {
    this.#deadline = deadline;
    if (this.#state !== RUNNING) return;
    const core = this.task.core;
    if (this.#timer !== null) core.cancelTimer(this.#timer);
    this.#timer = deadline === Infinity
      ? null
      : core.addTimer(Math.max(0, deadline - core.now()), expire, this);
  }

  /**
   * Cancels the scope: every wait of its body rejects with `reason` (the
   * scope's Timeout when undefined) until the body ends. Once is enough.
   */
  cancel(reason: unknown): void {
    if (this.#state !== RUNNING) return;
    this.#state = CANCELLED;
    this.cancelCalled = true;
    if (this.#timer !== null) {
      this.task.core.cancelTimer(this.#timer);
      this.#timer = null;
    }
    const error = this.#error = reason === undefined ? this.timeout : reason;
    throwInto(this, error, this.timeout, true);
    watchAway(this.task, this);
    this.away();
  }

  #mine(e: unknown): boolean {
    return e === this.#error || e === this.timeout;
  }

  /** The body ended: the call settles with its outcome. */
  end(ok: boolean, v: unknown): void {
    const state = this.#state;
    if (state === ENDED) {
      dropDetached(this);
      // a detached body: its late failure is still a failure
      if (!ok && !isCancellation(v, (x) => this.#mine(x))) {
        this.task.core.reportError(this.task, v);
      }
      return;
    }
    this.#state = ENDED;
    this.#close();
    if (ok) this.#res(v);
    else if (state === CANCELLED && isCancellation(v, (x) => this.#mine(x))) {
      const outer = outerCancellation(this);
      if (outer !== null) this.#rej(outer.error);
      else {
        this.caught = true;
        this.#settleCaught(this.#res, this.#rej);
      }
    } else this.#rej(v);
  }

  #close(): void {
    if (this.#timer !== null) {
      this.task.core.cancelTimer(this.#timer);
      this.#timer = null;
    }
    closeScope(this);
    unwatchAway(this.task, this);
  }

  #settleCaught(res: (v: unknown) => void, rej: (e: unknown) => void): void {
    const mode = this.#mode;
    if (mode === MOVE_ON) res(undefined);
    else if (mode === VALUE) res(this.#value);
    else rej(this.timeout);
  }

  #expire(): void {
    this.#timer = null;
    this.#expired = true;
    this.cancel(undefined);
  }

  /** Its task was found away: is the body? (Looked at once what is runnable ran.) */
  away(): void {
    this.task.core.schedule(checkDetach, this);
  }

  #checkDetach(): void {
    if (this.#state !== CANCELLED || !bodyAway(this)) return;
    this.#detach();
  }

  #detach(): void {
    this.#state = ENDED;
    this.detached = true;
    this.caught = true;
    this.#close();
    noteDetached(this);
    const task = this.task;
    const core = task.core;
    const mode = this.#mode;
    if (mode === FAIL) core.resume(this.#rej, this.timeout, task);
    else {
      core.resume(this.#res, mode === VALUE ? this.#value : undefined, task);
    }
  }

  override label(now: number | null): string {
    const ms = this.ms;
    if (now === null) return `${this.kind}(${ms} ms)`;
    const state = this.detached
      ? `detached ${this.detachedWhy()}`
      : this.#timer !== null
      ? timeLeft(this.#deadline - now)
      : this.#state === CANCELLED
      ? (this.#expired ? "past its deadline" : "cancelled")
      : "no deadline";
    return `${this.kind}(${ms} ms, ${state})`;
  }

  override detachedWhy(): string {
    return this.#expired ? "at its deadline" : "when it was cancelled";
  }

  override abandon(site: string | null): boolean {
    if (this.detached) return true; // warned once already, or away then
    if (this.#state !== CANCELLED) return false;
    globalThis.console.warn(
      `gevent-ts: a ${this.kind}(${this.ms} ms) body caught its ${
        this.#error === this.timeout ? "Timeout" : "cancellation"
      } ${MAX_DELIVERIES} times and waited again${
        site === null ? "" : ` at ${site}`
      }: that flow is abandoned (its wait never settles) and ${this.kind} settles`,
    );
    this.#detach();
    return true;
  }
}

/**
 * Whether the body of `scope` is away in an await the hub does not own: no
 * wait of its task was started inside it, and the task neither runs nor has
 * anything queued (a resumption on its way: it runs next).
 */
function bodyAway(scope: Scope): boolean {
  const task = scope.task;
  if (task.core.running() === task || task.core.holds(task)) return false;
  for (let w = task.waits; w !== null; w = w.gnext) {
    for (let s: Scope | null = w.scope; s !== null; s = s.outer) {
      if (s === scope) return false;
    }
  }
  return true;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as PromiseLike<unknown>).then === "function";
}

const CANCELLED_CALLER = { toString: () => "a cancel scope (cancelled)" };

let capturedRes: (v: unknown) => void;
let capturedRej: (e: unknown) => void;
function capture(res: (v: unknown) => void, rej: (e: unknown) => void): void {
  capturedRes = res;
  capturedRej = rej;
}

/**
 * Runs `fn(...args)` — or `fn(handle(scope))` when `handle` is given — in
 * a new {@linkcode BodyScope} of the current scope; settles once the body
 * ended (or was detached). A caller already cancelled never runs `fn`.
 */
export function runInScope(
  kind: string,
  ms: number,
  timeout: Error,
  mode: number,
  value: unknown,
  shield: boolean,
  fn: (...args: unknown[]) => unknown,
  args: unknown[] | null,
  handle: ((scope: BodyScope) => unknown) | null,
): Promise<unknown> {
  const outer = currentScope();
  // a cancelled caller never runs fn: this is a switch point for it
  if (!shield && !unhindered(outer)) {
    return waitOn(outer, CANCELLED_CALLER, NO_OPTIONS).promise;
  }
  const promise = new Promise(capture);
  const scope = new BodyScope(
    outer,
    kind,
    ms,
    timeout,
    mode,
    value,
    shield,
    capturedRes,
    capturedRej,
  );
  let r: unknown;
  try {
    r = handle === null
      ? als.run(scope, fn, ...args!)
      : als.run(scope, fn, handle(scope));
  } catch (e) {
    scope.end(false, e);
    return promise;
  }
  if (isThenable(r)) {
    r.then((v) => scope.end(true, v), (e) => scope.end(false, e));
  } else scope.end(true, r);
  return promise;
}
