/**
 * The map engine of {@linkcode ThreadPool} (private): `map`, `imap` and
 * `imapUnordered` over any iterable or async iterable, in bounded memory.
 * The input is pulled only by `next()` (so nothing is pulled while the
 * consumer is away: that is the back-pressure), one item per free place:
 * at most `size` of the map's tasks are submitted and unfinished, and no
 * item is pulled while `maxsize` finished results wait for the consumer.
 * Every wait is a switch point of the consumer: a kill or `Timeout` there
 * cancels the tasks in flight and closes the input.
 *
 * @module
 */

import { trackOp } from "./_core/mod.ts";
import { registerAsyncDispose } from "./_imap.ts";
import type { Engine, Job } from "./_threadpool_engine.ts";

/** A finished item: its index in the input, its result or error. */
export interface Entry {
  index: number;
  ok: boolean;
  value: unknown;
}

const DONE: IteratorResult<never> = { done: true, value: undefined };

/**
 * The iterator of one `imap`/`imapUnordered` (and the driver of `map`):
 * results in input order when `ordered`, else in completion order. An
 * item's error is raised at its place and the iteration goes on (as the
 * greenlet `Pool`'s imap).
 */
export class ThreadImap<T> implements AsyncIterableIterator<T> {
  readonly #engine: Engine;
  readonly #action: string;
  readonly #what: string;
  readonly #name: string | URL;
  readonly #ordered: boolean;
  readonly #maxsize: number;
  #items: Iterable<unknown> | AsyncIterable<unknown> | null;
  #sync: Iterator<unknown> | null = null;
  #async: AsyncIterator<unknown> | null = null;
  #inputDone = false;
  #pulled = 0;
  #nextIndex = 0;
  readonly #inFlight = new Map<number, Job>();
  readonly #finished = new Map<number, Entry>();
  readonly #order: Entry[] = [];
  #wake: (() => void) | null = null;
  #closed = false;
  #busy = false;
  readonly #onDone = (ok: boolean, value: unknown, job: Job): void => {
    if (this.#closed) return;
    this.#inFlight.delete(job.tag);
    const e: Entry = { index: job.tag, ok, value };
    if (this.#ordered) this.#finished.set(job.tag, e);
    else this.#order.push(e);
    const w = this.#wake;
    if (w !== null) {
      this.#wake = null;
      w();
    }
  };

  constructor(
    engine: Engine,
    action: string,
    name: string | URL,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    ordered: boolean,
    maxsize: number,
  ) {
    this.#engine = engine;
    this.#action = action;
    this.#what = `ThreadPool.${action}(${String(name)})`;
    this.#name = name;
    this.#items = items;
    this.#ordered = ordered;
    this.#maxsize = maxsize;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next result (or an item's error, thrown at its place). */
  async next(): Promise<IteratorResult<T>> {
    const e = await this.nextEntry();
    if (e === null) return DONE;
    if (e.ok) return { done: false, value: e.value as T };
    throw e.value;
  }

  /** The next finished item, or null at the end. */
  async nextEntry(): Promise<Entry | null> {
    if (this.#closed) return null;
    if (this.#busy) {
      throw new Error(
        `Cannot call next on ${this.#what}: the previous next() has not settled`,
      );
    }
    this.#busy = true;
    try {
      for (;;) {
        const e = this.#take();
        if (e !== null) {
          const filling = this.#fill();
          if (filling !== null) await filling;
          return e;
        }
        const filling = this.#fill();
        if (filling !== null) await filling;
        if (this.#ready()) continue;
        if (this.#inFlight.size === 0 && this.#inputDone) {
          this.#closed = true;
          return null;
        }
        await trackOp(
          this.#what,
          () => new Promise<void>((resolve) => this.#wake = resolve),
          (reason) => void this.#close(reason),
        );
      }
    } catch (e) {
      await this.#close(e);
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /** Stops: cancels the tasks in flight, closes the input. */
  async return(): Promise<IteratorResult<T>> {
    await this.#close(new Error(`${this.#what} closed`));
    return DONE;
  }

  /** `return()` for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #ready(): boolean {
    return this.#ordered
      ? this.#finished.has(this.#nextIndex)
      : this.#order.length > 0;
  }

  #take(): Entry | null {
    if (this.#ordered) {
      const e = this.#finished.get(this.#nextIndex);
      if (e === undefined) return null;
      this.#finished.delete(this.#nextIndex++);
      return e;
    }
    return this.#order.shift() ?? null;
  }

  /** Results finished and not yet taken. */
  #held(): number {
    return this.#ordered ? this.#finished.size : this.#order.length;
  }

  #room(): boolean {
    return !this.#inputDone && this.#inFlight.size < this.#engine.size &&
      this.#held() < this.#maxsize;
  }

  /** Pulls and submits while there is room; a promise if it must wait. */
  #fill(): Promise<void> | null {
    if (this.#items !== null) this.#open();
    if (this.#async !== null) return this.#room() ? this.#fillAsync() : null;
    const it = this.#sync!;
    while (this.#room()) {
      const step = it.next();
      if (step.done) this.#inputDone = true;
      else this.#submit(step.value);
    }
    return null;
  }

  async #fillAsync(): Promise<void> {
    const it = this.#async!;
    while (this.#room()) {
      const step = await trackOp(
        this.#what,
        () => it.next(),
        (reason) => void this.#close(reason),
      );
      if (step.done) this.#inputDone = true;
      else this.#submit(step.value);
    }
  }

  #open(): void {
    const items = this.#items!;
    this.#items = null;
    const a = (items as AsyncIterable<unknown>)[Symbol.asyncIterator];
    if (typeof a === "function") this.#async = a.call(items);
    else this.#sync = (items as Iterable<unknown>)[Symbol.iterator]();
  }

  #submit(item: unknown): void {
    const job = this.#engine.job(this.#action, this.#name, [item]);
    job.tag = this.#pulled++;
    job.done = this.#onDone;
    this.#inFlight.set(job.tag, job);
    this.#engine.submit(job);
  }

  async #close(reason: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const jobs = [...this.#inFlight.values()];
    this.#inFlight.clear();
    this.#finished.clear();
    this.#order.length = 0;
    for (const j of jobs) this.#engine.cancel(j, reason);
    const inputOpen = !this.#inputDone;
    this.#inputDone = true;
    if (!inputOpen) return;
    try {
      if (this.#sync !== null) this.#sync.return?.();
      else if (this.#async !== null) await this.#async.return?.();
    } catch {
      // the input's own error on closing: the map ends anyway
    }
  }
}

registerAsyncDispose(ThreadImap.prototype);
