/**
 * The base of everything that can be waited on: greenlets, locks, and your
 * own waitables. Links (callbacks) and waiters are notified in FIFO order
 * from the hub's run queue once the object is ready.
 *
 * @module
 */

import {
  actFor,
  als,
  currentScope,
  currentTask,
  interruption,
  type Scheduler,
  type Task,
  WaiterList,
  waitOn,
  type WaitOptions,
} from "./_core/mod.ts";
import { checkFunction, WaitLabel } from "./_util/mod.ts";

/**
 * What `link` accepts: a function called with the source, or an object
 * whose `handleLink(source)` is called (as an `AsyncResult`, so that
 * `g.link(result)` forwards a greenlet's outcome; gevent's callable
 * objects).
 *
 * @example An object as a link target
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LinkCallback, spawn } from "./mod.ts";
 * const seen: string[] = [];
 * const target: LinkCallback<{ ready(): boolean }> = {
 *   handleLink: (source) => void seen.push(`ready: ${source.ready()}`),
 * };
 * const g = spawn(() => 1);
 * g.link(target);
 * await g.join();
 * assert.deepEqual(seen, ["ready: true"]);
 * ```
 */
export type LinkCallback<S> =
  | ((source: S) => void)
  | { handleLink(source: S): void };

/**
 * Something {@linkcode wait} and {@linkcode iwait} can wait for: greenlets,
 * locks, and any {@linkcode Linkable}.
 *
 * @example A greenlet is a Waitable
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, type Waitable } from "./mod.ts";
 * const w: Waitable = spawn(() => 1);
 * await new Promise<void>((resolve) => w.rawlink(() => resolve()));
 * assert.ok(w.ready());
 * ```
 */
export interface Waitable {
  /** Whether the object is ready (finished, set, a permit free). */
  ready(): boolean;
  /**
   * Registers `callback`, run once from the hub when the object becomes ready
   * (at once, through the run queue, if it already is).
   */
  rawlink(callback: (source: this) => void): void;
  /** Removes a callback registered with `rawlink` (or `link`). */
  unlink(callback: (source: this) => void): void;
}

interface LinkRecord {
  cb: ((source: never) => unknown) | { handleLink(s: never): void } | null;
  raw: boolean;
  when: ((source: never) => boolean) | null;
}

// The object whose links are being notified now, and that batch: `unlink`
// from a callback stops a later one (notifications never nest: they run
// from the run queue).
let notifying: Linkable | null = null;

let settledFor: (x: Linkable) => boolean;

let observer: ((x: Linkable) => void) | null = null;

/**
 * Internal (for testing.ts, not re-exported): `f` is told of every wait on
 * and link to a Linkable (a join, `get()`, `joinAll`, `link`) while set —
 * strict virtual time asks whether anything joined a greenlet that failed.
 */
export function observeLinkables(f: ((x: Linkable) => void) | null): void {
  observer = f;
}

/**
 * Internal (for join_all.ts, not re-exported): whether `x` is ready and its
 * link callbacks have run — what a wait on it returns at once for.
 */
export function linksRan(x: Linkable): boolean {
  return settledFor(x);
}
let batch: LinkRecord | LinkRecord[] | null = null;

function callTarget(
  target: { handleLink(s: Linkable): void },
  source: Linkable,
): void {
  target.handleLink(source);
}

/**
 * gevent's `AbstractLinkable`: the base of every waitable. Callbacks
 * (`rawlink`, `link`) and waiters (`waitReady`) are notified once the object
 * is ready, in the order they were registered, from the hub's run queue;
 * callbacks first, so they all ran before any waiter resumes. Each callback
 * runs once. A subclass implements `ready()` and calls `notifyLinks()`
 * whenever it may have become ready.
 *
 * @example A waitable flag of your own
 * ```ts
 * import assert from "node:assert/strict";
 * import { Linkable, wait } from "./mod.ts";
 * class Flag extends Linkable {
 *   #up = false;
 *   ready(): boolean {
 *     return this.#up;
 *   }
 *   raise(): void {
 *     this.#up = true;
 *     this.notifyLinks();
 *   }
 *   wait(timeout?: number): Promise<unknown> {
 *     return this.waitReady({ timeout }, false);
 *   }
 *   protected override waitResult(): unknown {
 *     return true; // what wait() resolves with once raised
 *   }
 * }
 * const flag = new Flag();
 * setTimeout(() => flag.raise(), 5);
 * assert.equal(await flag.wait(), true);
 * assert.equal((await wait([flag])).length, 1);
 * ```
 */
export abstract class Linkable implements Waitable {
  /** One record (the common case: a join), or an array of two or more. */
  #links: LinkRecord | LinkRecord[] | null = null;
  #waiters: WaiterList | null = null;
  #scheduled = false;
  #plainWait: WaitOptions | null = null;
  #plainRaisingWait: WaitOptions | null = null;
  /** What its waits show in run info: the label until first waited on. */
  #source: object | string;

  static {
    settledFor = (x) => x.ready() && !x.#scheduled;
  }

  /**
   * Creates the base of a waitable, not ready until `ready()` says so.
   *
   * @param waitLabel Prefix of this object's waits in run info and
   * `LoopExit` messages (e.g. `"join of"`); by default `String(this)` alone.
   */
  constructor(waitLabel = "") {
    this.#source = waitLabel;
  }

  /** Whether the object is ready; waiters and callbacks are notified then. */
  abstract ready(): boolean;

  /**
   * Calls `callback(this)` once when the object is ready, from the hub's run
   * queue (at once through the queue if it already is). It must not block.
   *
   * @param callback Called with this object.
   */
  rawlink(callback: (source: this) => void): void {
    this.addLink(callback, true, null, "rawlink");
  }

  /**
   * Like `rawlink`; the callback runs as code outside greenlets (as
   * `hub.main`), and an error it throws or rejects with goes to
   * `hub.handleError`. An object with a `handleLink(source)` method may be
   * given instead of a function (an `AsyncResult` forwards the outcome).
   *
   * @param callback Called with this object.
   */
  link(callback: LinkCallback<this>): void {
    this.addLink(callback, false, null, "link");
  }

  /**
   * Removes every registration of `callback`; one not run yet never runs,
   * even when it is unlinked by another callback of the same notification.
   *
   * @param callback The callback to remove.
   */
  unlink(callback: LinkCallback<this>): void {
    const links = this.#links;
    if (Array.isArray(links)) {
      for (let i = links.length - 1; i >= 0; i--) {
        if (links[i].cb === callback) links.splice(i, 1);
      }
    } else if (links !== null && links.cb === callback) this.#links = null;
    if (notifying === this) {
      const b = batch!;
      if (!Array.isArray(b)) {
        if (b.cb === callback) b.cb = null;
      } else for (const rec of b) if (rec.cb === callback) rec.cb = null;
    }
  }

  /**
   * Registers a callback (for subclasses adding filtered kinds of link).
   *
   * @param callback Called with this object.
   * @param raw Run in the hub (true) or as `hub.main` (false).
   * @param when Call it only if this returns true at notification.
   * @param action The public method's name, for the argument error.
   */
  protected addLink(
    callback: ((source: this) => unknown) | LinkCallback<this>,
    raw: boolean,
    when: ((source: this) => boolean) | null,
    action: string,
  ): void {
    if (
      raw || callback === null || typeof callback !== "object" ||
      typeof callback.handleLink !== "function"
    ) checkFunction(action, "callback", callback);
    if (observer !== null) observer(this);
    const rec: LinkRecord = {
      cb: callback as LinkRecord["cb"],
      raw,
      when: when as ((s: never) => boolean) | null,
    };
    const links = this.#links;
    if (links === null) this.#links = rec;
    else if (Array.isArray(links)) links.push(rec);
    else this.#links = [links, rec];
    this.notifyLinks();
  }

  /**
   * Call when the object may have become ready: if it is and anything is
   * linked or waiting, they are notified from the hub's run queue.
   */
  protected notifyLinks(): void {
    if (
      this.#scheduled || (this.#links === null && this.#waiters === null) ||
      !this.ready()
    ) return;
    this.#scheduled = true;
    const by = currentTask();
    by.core.schedule(Linkable.#notify, this, by);
  }

  /**
   * Waits until the object is ready (a switch point): resolves with
   * `waitResult()`, or with `timeoutValue` after `timeout` ms; an aborted
   * `signal` rejects with its reason. FIFO among waiters; callbacks
   * registered before run first.
   *
   * A raising wait (`timeoutError` given, as a `get()`) rejects with
   * `timeoutError()` on timeout, and with `waitError()` when `waitFailed()`.
   *
   * @param options `timeout` in milliseconds, `signal`.
   * @param timeoutValue What a timed-out wait resolves with.
   * @param timeoutError Makes the wait raising: what it rejects with on
   * timeout.
   * @returns A promise of `waitResult()` or `timeoutValue`.
   */
  protected waitReady(
    options: { timeout?: number | undefined; signal?: AbortSignal | undefined },
    timeoutValue?: unknown,
    timeoutError?: () => unknown,
  ): Promise<unknown> {
    if (observer !== null) observer(this);
    const scope = currentScope();
    if (
      this.ready() && !this.#scheduled && options.signal?.aborted !== true &&
      interruption(scope, false) === undefined
    ) {
      return timeoutError !== undefined && this.waitFailed()
        ? Promise.reject(this.waitError())
        : Promise.resolve(this.waitResult());
    }
    const list = this.#waiters ??= new WaiterList();
    const w = waitOn(
      scope,
      this.#waitSource(),
      options.timeout === undefined && options.signal === undefined
        // a plain wait (it cannot time out): one options object for all
        ? (timeoutError === undefined
          ? this.#plainWait ??= { list }
          : this.#plainRaisingWait ??= { list, timeoutError })
        : {
          list,
          timeout: options.timeout,
          signal: options.signal,
          timeoutValue,
          timeoutError,
        },
    );
    if (w.active) this.notifyLinks();
    return w.promise;
  }

  /**
   * What `waitReady` resolves with once ready (gevent's
   * `_wait_return_value`); `undefined` unless overridden.
   *
   * @returns The value waiters resume with.
   */
  protected waitResult(): unknown {
    return undefined;
  }

  /**
   * Whether raising waits (see `waitReady`) reject once ready; false unless
   * overridden.
   *
   * @returns false.
   */
  protected waitFailed(): boolean {
    return false;
  }

  /**
   * What raising waits reject with when `waitFailed()`.
   *
   * @returns undefined unless overridden.
   */
  protected waitError(): unknown {
    return undefined;
  }

  /**
   * Called with what a `link` callback threw (or rejected with); hands it
   * to `hub.handleError` as an error of `hub.main` unless overridden.
   *
   * @param error What the callback threw.
   */
  protected linkError(error: unknown): void {
    const core = currentTask().core;
    core.reportError(core.main, error);
  }

  #waitSource(): object {
    const label = this.#source;
    if (typeof label !== "string") return label;
    return this.#source = label === "" ? this : new WaitLabel(label, this);
  }

  /**
   * Whether a notification wakes every callback and waiter registered when
   * it runs even if the object stopped being ready in between (gevent's
   * `_notify_all`: an `Event` set then cleared at once still wakes those
   * that waited). False by default: a lock wakes only while a permit is
   * free.
   *
   * @returns false unless overridden.
   */
  protected get wakesAll(): boolean {
    return false;
  }

  /** Runs a notification of what `by` did (its hub acts for it meanwhile). */
  static #notify(self: Linkable, by: Task): void {
    actFor(by, Linkable.#notifyNow, self, by.core);
  }

  static #notifyNow(self: Linkable, core: Scheduler): void {
    self.#scheduled = false;
    const all = self.wakesAll;
    if (!all && !self.ready()) return;
    const links = self.#links;
    if (links !== null) {
      self.#links = null;
      notifying = self;
      batch = links;
      const many = Array.isArray(links);
      const n = many ? links.length : 1;
      for (let i = 0; i < n; i++) {
        const rec = many ? links[i] : links;
        const cb = rec.cb;
        if (cb === null) continue; // unlinked by an earlier callback
        if (i !== 0 && !all && !self.ready()) {
          // a callback made it unready (so there was one before: an array):
          // the rest wait for the next time
          const rest = (links as LinkRecord[]).slice(i).filter((r) =>
            r.cb !== null
          );
          const later = self.#links;
          self.#links = later === null
            ? rest
            : rest.concat(later as LinkRecord | LinkRecord[]);
          break;
        }
        rec.cb = null;
        if (rec.when !== null && !rec.when(self as never)) continue;
        self.#call(cb, rec.raw, core);
      }
      notifying = batch = null;
    }
    const waiters = self.#waiters;
    if (waiters !== null && waiters.size !== 0 && (all || self.ready())) {
      if (!self.waitFailed()) waiters.settleAll(self.waitResult(), true);
      else waiters.settleAllFailed(self.waitResult(), self.waitError());
    }
  }

  #call(
    cb: NonNullable<LinkRecord["cb"]>,
    raw: boolean,
    core: Scheduler,
  ): void {
    try {
      const r = raw
        ? (cb as (s: Linkable) => unknown)(this)
        : typeof cb === "function"
        ? als.run(core.main, cb as (s: Linkable) => unknown, this)
        : als.run(core.main, callTarget, cb, this);
      if (
        !raw && r !== null && typeof r === "object" &&
        typeof (r as PromiseLike<unknown>).then === "function"
      ) {
        (r as PromiseLike<unknown>).then(undefined, (e) => this.linkError(e));
      }
    } catch (e) {
      this.linkError(e);
    }
  }
}
