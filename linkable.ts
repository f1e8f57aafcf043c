/**
 * The base of everything that can be waited on: greenlets, locks, and your
 * own waitables. Links (callbacks) and waiters are notified in FIFO order
 * from the hub's run queue once the object is ready.
 *
 * @module
 */

import { als, currentScope, currentTask } from "./_context.ts";
import { checkFunction } from "./_checks.ts";
import { interruption, type Scheduler, WaiterList, waitOn } from "./_waiter.ts";

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
  cb: ((source: never) => unknown) | null;
  raw: boolean;
  when: ((source: never) => boolean) | null;
}

// The object whose links are being notified now, and that batch: `unlink`
// from a callback stops a later one (notifications never nest: they run
// from the run queue).
let notifying: Linkable | null = null;
let batch: LinkRecord[] | null = null;

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
  #links: LinkRecord[] | null = null;
  #waiters: WaiterList | null = null;
  #scheduled = false;
  /** What its waits show in run info: the label until first waited on. */
  #source: object | string;

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
   * `hub.handleError`.
   *
   * @param callback Called with this object.
   */
  link(callback: (source: this) => void): void {
    this.addLink(callback, false, null, "link");
  }

  /**
   * Removes every registration of `callback`; one not run yet never runs,
   * even when it is unlinked by another callback of the same notification.
   *
   * @param callback The callback to remove.
   */
  unlink(callback: (source: this) => void): void {
    const links = this.#links;
    if (links !== null) {
      for (let i = links.length - 1; i >= 0; i--) {
        if (links[i].cb === callback) links.splice(i, 1);
      }
    }
    if (notifying === this) {
      for (const rec of batch!) if (rec.cb === callback) rec.cb = null;
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
    callback: (source: this) => unknown,
    raw: boolean,
    when: ((source: this) => boolean) | null,
    action: string,
  ): void {
    checkFunction(action, "callback", callback);
    (this.#links ??= []).push({
      cb: callback as (s: never) => unknown,
      raw,
      when: when as ((s: never) => boolean) | null,
    });
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
    const core = currentTask().core;
    core.schedule(Linkable.#notify, this, core);
  }

  /**
   * Waits until the object is ready (a switch point): resolves with
   * `waitResult()`, or with `timeoutValue` after `timeout` ms; an aborted
   * `signal` rejects with its reason. FIFO among waiters; callbacks
   * registered before run first.
   *
   * @param options `timeout` in milliseconds, `signal`.
   * @param timeoutValue What a timed-out wait resolves with.
   * @returns A promise of `waitResult()` or `timeoutValue`.
   */
  protected waitReady(
    options: { timeout?: number; signal?: AbortSignal },
    timeoutValue?: unknown,
  ): Promise<unknown> {
    const scope = currentScope();
    if (
      this.ready() && !this.#scheduled && options.signal?.aborted !== true &&
      interruption(scope, false) === undefined
    ) return Promise.resolve(this.waitResult());
    const w = waitOn(scope, this.#waitSource(), {
      list: this.#waiters ??= new WaiterList(),
      timeout: options.timeout,
      signal: options.signal,
      timeoutValue,
    });
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
    return this.#source = label === ""
      ? this
      : { toString: () => `${label} ${this}` };
  }

  static #notify(self: Linkable, core: Scheduler): void {
    self.#scheduled = false;
    if (!self.ready()) return;
    const links = self.#links;
    if (links !== null) {
      self.#links = null;
      notifying = self;
      batch = links;
      for (let i = 0; i < links.length; i++) {
        const rec = links[i];
        const cb = rec.cb;
        if (cb === null) continue; // unlinked by an earlier callback
        if (!self.ready()) {
          // a callback made it unready: the rest wait for the next time
          const rest = links.slice(i).filter((r) => r.cb !== null);
          self.#links = self.#links === null ? rest : rest.concat(self.#links);
          break;
        }
        rec.cb = null;
        if (rec.when !== null && !rec.when(self as never)) continue;
        self.#call(cb, rec.raw, core);
      }
      notifying = batch = null;
    }
    const waiters = self.#waiters;
    if (waiters !== null && waiters.size !== 0 && self.ready()) {
      waiters.settleAll(self.waitResult(), true);
    }
  }

  #call(
    cb: (source: never) => unknown,
    raw: boolean,
    core: Scheduler,
  ): void {
    try {
      const r = raw
        ? cb(this as never)
        : als.run(core.main, cb as (s: Linkable) => unknown, this);
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
