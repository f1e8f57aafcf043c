/**
 * `Conn`, the hub-aware connection of `socket.ts` (a public folder like
 * `_patch/`: its declarations ship, as `socket.ts` re-exports them): one `node:net` socket
 * (or `node:tls`), read in flowing mode by one `data` listener into a small
 * buffer of chunks, with one waiting reader and a FIFO list of writers
 * waiting for `drain`. Every wait is a switch point of the calling
 * greenlet: a kill rejects it and destroys the socket, a Timeout rejects it
 * and leaves the socket and its buffered bytes alone.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import {
  currentScope,
  hubCoreOf,
  NO_OPTIONS,
  type Scope,
  settle,
  unhindered,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
} from "../_core/mod.ts";
import { describe, WaitLabel } from "../_util/mod.ts";
import { registerAsyncDispose } from "../_imap.ts";

/** An endpoint of a connection: an IP address and a port. */
export interface Addr {
  /** The IP address, e.g. `"127.0.0.1"` or `"::1"`. */
  readonly hostname: string;
  /** The TCP port. */
  readonly port: number;
}

/** What {@linkcode Conn.readLine} accepts. */
export interface ReadLineOptions {
  /**
   * The longest line, in bytes without its newline (default 65,536): a
   * longer one rejects with a `RangeError` and stays buffered.
   */
  readonly maxLength?: number | undefined;
}

/** Bytes buffered while nobody reads before the socket is paused. */
const HIGH_WATER = 65_536;
const DEFAULT_MAX_LINE = 65_536;
const READ = 0;
const LINE = 1;
const RESOLVED: Promise<void> = Promise.resolve();
const decoder = new TextDecoder();

/** Whether the wait `w` was rejected by a kill of its greenlet. */
function killed(w: Waiter): boolean {
  const stop = w.task.stop;
  return stop !== null && stop.level && stop.source === null;
}

/**
 * A TCP (or TLS) connection whose every wait — `read`, `readLine`, `write`
 * under back-pressure — is a switch point of the calling greenlet. Made by
 * `connect`, `Listener.accept` or `wrap` of `socket.ts`.
 *
 * A kill delivered while a greenlet waits in one of them rejects the wait
 * at once and destroys the connection (buffered bytes are dropped); a
 * Timeout rejects the wait and leaves the connection open: bytes that
 * arrived stay buffered for the next read, and the bytes of a timed-out
 * write stay queued and are sent before later writes. One greenlet reads at
 * a time (a second concurrent read throws an `Error`); writes from several
 * greenlets go out in call order.
 *
 * @example Echo over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "../socket.ts";
 * await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * await using client = await connect(listener.addr);
 * await using server = await listener.accept();
 * await client.write("ping\n");
 * assert.equal(await server.readLine(), "ping");
 * ```
 */
export class Conn {
  readonly #sock: Duplex;
  /** The address of the other end. */
  readonly remoteAddr: Addr;
  /** The address of this end. */
  readonly localAddr: Addr;
  #chunks: Uint8Array[] = [];
  #size = 0;
  /** Leading buffered bytes known to hold no newline. */
  #scanned = 0;
  #paused = false;
  #eof = false;
  #error: unknown = null;
  /** Closed here (`close()`, a kill): reads and writes fail. */
  #closed = false;
  /** The socket is gone (its `close` event). */
  #gone = false;
  #reader: Waiter | null = null;
  #readKind = READ;
  #into: Uint8Array | undefined = undefined;
  readonly #writers = new WaiterList();
  readonly #readOptions: WaitOptions;
  readonly #readSource: WaitLabel;
  readonly #writeSource: WaitLabel;
  #whenClosed: Promise<void>;
  #resolveClosed!: () => void;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array | string> | null = null;

  /**
   * Internal: made by `socket.ts` (`connect`, `accept`, `wrap`) of a
   * connected `node:net` socket or a `Duplex` and its two addresses.
   */
  constructor(sock: Duplex, remoteAddr: Addr, localAddr: Addr) {
    this.#sock = sock;
    this.remoteAddr = remoteAddr;
    this.localAddr = localAddr;
    this.#readOptions = { abort: this.#abortRead };
    this.#readSource = new WaitLabel("read from", this);
    this.#writeSource = new WaitLabel("write to", this);
    this.#whenClosed = new Promise((r) => this.#resolveClosed = r);
    sock.on("data", this.#onData);
    sock.on("end", this.#onEnd);
    sock.on("error", this.#onError);
    sock.on("close", this.#onClose);
    sock.on("drain", this.#onDrain);
  }

  /**
   * Reads the next bytes: what is buffered, else waits for some (a switch
   * point; see the class's text for what a kill or Timeout does).
   *
   * @param into Where to copy them (at most its length); the result is then
   * a view of it. Without it, a chunk as it arrived.
   * @returns The bytes, or null at the end of the stream (after the
   * buffered ones).
   */
  read(into?: Uint8Array): Promise<Uint8Array | null> {
    if (into !== undefined && !(into instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot read from ${this}: into must be a Uint8Array, received ${
          describe(into)
        }`,
      );
    }
    const scope = currentScope();
    if (unhindered(scope)) {
      if (this.#size !== 0) return Promise.resolve(this.#take(into));
      if (this.#eof || this.#error !== null || this.#closed || this.#gone) {
        return this.#ended("read from");
      }
    }
    return this.#wait(scope, READ, into) as Promise<Uint8Array | null>;
  }

  /**
   * Reads one line: the bytes up to the next `\n` (or `\r\n`), decoded as
   * UTF-8, without them; waits while no whole line is buffered (a switch
   * point). A partial line at the end of the stream is returned as the last
   * line. Nothing is taken from the buffer until a whole line is there.
   *
   * @param options `maxLength`: the longest line in bytes (default 65,536).
   * @returns The line, or null at the end of the stream.
   * @throws {RangeError} When no newline comes within `maxLength` bytes
   * (the bytes stay buffered).
   */
  readLine(options?: ReadLineOptions): Promise<string | null> {
    const max = options?.maxLength ?? DEFAULT_MAX_LINE;
    if (typeof max !== "number" || !(max >= 0)) {
      throw new TypeError(
        `Cannot read a line from ${this}: maxLength must be a number of bytes, received ${
          describe(max)
        }`,
      );
    }
    const scope = currentScope();
    if (unhindered(scope)) {
      try {
        const line = this.#takeLine(max);
        if (line !== undefined) return Promise.resolve(line);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.#readLineSlow(scope, max);
  }

  async #readLineSlow(scope: Scope, max: number): Promise<string | null> {
    for (;;) {
      await this.#wait(scope, LINE, undefined);
      const line = this.#takeLine(max);
      if (line !== undefined) return line;
    }
  }

  /**
   * Writes `data` (a string is sent as UTF-8). Resolves at once when the
   * socket took it without exceeding its buffer, else once the buffer
   * drained (a switch point: back-pressure).
   *
   * @param data The bytes or text.
   * @returns A promise that resolves when the bytes were accepted.
   */
  write(data: Uint8Array | string): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot write to ${this}: data must be a Uint8Array or a string, received ${
          describe(data)
        }`,
      );
    }
    const scope = currentScope();
    if (!unhindered(scope)) {
      return waitOn(scope, this.#writeSource, NO_OPTIONS).promise as Promise<
        void
      >;
    }
    if (
      this.#closed || this.#gone || this.#error !== null ||
      this.#sock.writableEnded
    ) {
      return this.#failed("write to");
    }
    if (this.#sock.write(data)) return RESOLVED;
    let w: Waiter | null = null;
    const options: WaitOptions = {
      list: this.#writers,
      abort: () => this.#abortWrite(w!),
    };
    w = waitOn(scope, this.#writeSource, options);
    if (w.active) hubCoreOf(w.task).quiet.noteOp(1);
    return w.promise as Promise<void>;
  }

  /**
   * Ends the writing half (sends FIN once the queued bytes went out); the
   * other end reads the end of the stream, reading goes on.
   */
  closeWrite(): void {
    if (!this.#closed) this.#sock.end();
  }

  /**
   * Closes the connection: reading stops at once — buffered bytes are
   * dropped, reads and writes reject with an `Error` from now on (a greenlet
   * waiting in one too) — and the socket is released once the bytes of the
   * writes that resolved went out (at once on Node, which hands them to the
   * kernel as they are written); the bytes of a write still waiting for
   * `drain` (or timed out) are dropped. Closing twice does nothing.
   *
   * @returns A promise that resolves once the socket is released.
   */
  close(): Promise<void> {
    this.#shut(false);
    return this.#whenClosed;
  }

  /** Closes here; `now`: the socket too, dropping unsent bytes (a kill). */
  #shut(now: boolean): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#chunks = [];
      this.#size = 0;
      this.#wakeReader();
      this.#wakeWriters();
    }
    const s = this.#sock;
    if (s.destroyed) return;
    const queued = s.writableLength;
    if (
      now || queued === 0 || queued > s.writableHighWaterMark ||
      this.#error !== null
    ) s.destroy();
    else {
      // accepted bytes the runtime has not handed to the kernel yet (Deno)
      s.once("finish", () => s.destroy());
      s.end();
    }
  }

  /** Closes the connection: `await using conn = await connect(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The chunks read, until the end of the stream (each read a switch point). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** The reading half as a web stream (pulled on demand with `read()`). */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
  }

  /** The writing half as a web stream (`write()`; closing it ends the half). */
  get writable(): WritableStream<Uint8Array | string> {
    return this.#writable ??= new WritableStream<Uint8Array | string>({
      write: (chunk) => this.write(chunk),
      close: () => this.closeWrite(),
      abort: () => this.close(),
    });
  }

  /** E.g. `Conn(127.0.0.1:41000 -> 127.0.0.1:8000)`. */
  toString(): string {
    const l = this.localAddr, r = this.remoteAddr;
    return `Conn(${l.hostname}:${l.port} -> ${r.hostname}:${r.port})`;
  }

  #ended(verb: string): Promise<null> {
    if (this.#atEnd()) return Promise.resolve(null);
    return this.#failed(verb);
  }

  /** Whether reading ended cleanly: the end of the stream came (buffered bytes are read first). */
  #atEnd(): boolean {
    return this.#eof && !this.#closed && this.#error === null;
  }

  #failed(verb: string): Promise<never> {
    return Promise.reject(this.#failure(verb));
  }

  #failure(verb: string): unknown {
    if (this.#error !== null && !this.#closed) return this.#error;
    return new Error(`Cannot ${verb} ${this}: it is closed`);
  }

  #wait(
    scope: Scope,
    kind: number,
    into: Uint8Array | undefined,
  ): Promise<unknown> {
    if (this.#reader !== null) {
      throw new Error(
        `Cannot read from ${this}: another greenlet is reading it`,
      );
    }
    const w = waitOn(scope, this.#readSource, this.#readOptions);
    if (w.active) {
      this.#reader = w;
      this.#readKind = kind;
      this.#into = into;
      hubCoreOf(w.task).quiet.noteOp(1);
      if (this.#paused) {
        this.#paused = false;
        this.#sock.resume();
      }
    }
    return w.promise;
  }

  /** The reader, unhooked (null if none). */
  #unhookReader(): Waiter | null {
    const w = this.#reader;
    if (w === null) return null;
    this.#reader = null;
    this.#into = undefined;
    hubCoreOf(w.task).quiet.noteOp(-1);
    return w;
  }

  /** Wakes the reader, if any, with what it waited for. */
  #wakeReader(): void {
    const into = this.#into;
    const w = this.#unhookReader();
    if (w === null) return;
    if (this.#readKind === LINE) settle(w, true, undefined);
    else if (this.#size !== 0) settle(w, true, this.#take(into));
    else if (this.#atEnd()) settle(w, true, null);
    else settle(w, false, this.#failure("read from"));
  }

  #abortRead = (): void => {
    const w = this.#unhookReader();
    if (w !== null && killed(w)) this.#shut(true);
  };

  #abortWrite(w: Waiter): void {
    hubCoreOf(w.task).quiet.noteOp(-1);
    if (killed(w)) this.#shut(true);
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#reader !== null) this.#wakeReader();
    else if (this.#size >= HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#sock.pause();
    }
  };

  #onEnd = (): void => {
    this.#eof = true;
    this.#wakeReader();
  };

  #onError = (e: unknown): void => {
    this.#error = e;
    this.#wakeReader();
    this.#wakeWriters();
  };

  #onClose = (): void => {
    this.#gone = true;
    this.#wakeReader();
    this.#wakeWriters();
    this.#resolveClosed();
  };

  #onDrain = (): void => {
    let w: Waiter | null;
    while ((w = this.#writers.shift()) !== null) {
      hubCoreOf(w.task).quiet.noteOp(-1);
      settle(w, true, undefined);
    }
  };

  #wakeWriters(): void {
    let w: Waiter | null;
    while ((w = this.#writers.shift()) !== null) {
      hubCoreOf(w.task).quiet.noteOp(-1);
      settle(w, false, this.#failure("write to"));
    }
  }

  /** Takes buffered bytes (some must be buffered). */
  #take(into: Uint8Array | undefined): Uint8Array {
    let out: Uint8Array;
    if (into === undefined) {
      out = this.#chunks.shift()!;
    } else {
      const n = Math.min(into.length, this.#size);
      this.#copy(into, n);
      this.#drop(n);
      return into.subarray(0, n);
    }
    this.#size -= out.length;
    this.#scanned = 0;
    this.#flowAgain();
    return out;
  }

  /**
   * A whole line taken from the buffer, null at the end of the stream, or
   * undefined when more bytes are needed.
   */
  #takeLine(max: number): string | null | undefined {
    const chunks = this.#chunks;
    let skip = this.#scanned;
    let total = 0;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      if (skip >= c.length) {
        skip -= c.length;
        total += c.length;
        continue;
      }
      const j = c.indexOf(10, skip);
      skip = 0;
      if (j !== -1) {
        if (total + j > max) throw this.#tooLong(max);
        return this.#cutLine(total + j, 1);
      }
      total += c.length;
    }
    this.#scanned = total;
    if (total > max) throw this.#tooLong(max);
    if (this.#atEnd()) {
      return this.#size === 0 ? null : this.#cutLine(this.#size, 0);
    }
    if (this.#closed || this.#gone || this.#error !== null) {
      throw this.#failure("read a line from");
    }
    return undefined;
  }

  #tooLong(max: number): RangeError {
    return new RangeError(
      `Cannot read a line from ${this}: no newline within ${max} bytes (maxLength), received ${this.#size} bytes`,
    );
  }

  /** The first `n` bytes as a string (a trailing `\r` cut), then `n + skip` dropped. */
  #cutLine(n: number, skip: number): string {
    const first = this.#chunks[0];
    let bytes: Uint8Array;
    if (first.length >= n) bytes = first.subarray(0, n);
    else {
      bytes = new Uint8Array(n);
      this.#copy(bytes, n);
    }
    if (skip !== 0 && n !== 0 && bytes[n - 1] === 13) {
      bytes = bytes.subarray(0, n - 1);
    }
    const line = decoder.decode(bytes);
    this.#drop(n + skip);
    return line;
  }

  #copy(into: Uint8Array, n: number): void {
    let at = 0;
    for (let i = 0; at < n; i++) {
      const c = this.#chunks[i];
      const k = Math.min(c.length, n - at);
      into.set(k === c.length ? c : c.subarray(0, k), at);
      at += k;
    }
  }

  #drop(n: number): void {
    this.#size -= n;
    this.#scanned = 0;
    const chunks = this.#chunks;
    while (n > 0) {
      const c = chunks[0];
      if (c.length <= n) {
        chunks.shift();
        n -= c.length;
      } else {
        chunks[0] = c.subarray(n);
        n = 0;
      }
    }
    this.#flowAgain();
  }

  #flowAgain(): void {
    if (this.#paused && this.#size < HIGH_WATER) {
      this.#paused = false;
      this.#sock.resume();
    }
  }
}

registerAsyncDispose(Conn.prototype);
