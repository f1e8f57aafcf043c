/**
 * `transfer(value, list)`: marks a value for a {@linkcode ThreadPool} so
 * that the `ArrayBuffer`s and `MessagePort`s in `list` move to the other
 * thread instead of being copied (the sender's are detached: an
 * `ArrayBuffer`'s `byteLength` becomes 0). It works both ways: wrap an
 * argument of `apply`/`spawn` (or an item of `map`/`imap`), or return
 * `transfer(result, [result.buffer])` from a task.
 *
 * A tiny module of its own, with no import and no side effect (entry point
 * `./threadpool/transfer`), so that a task module can import it without
 * loading the hub into every worker; `./threadpool` re-exports it. The
 * pool recognises the mark by a registered symbol, so any copy of this
 * module makes marks every copy reads.
 *
 * @example A task that returns its result by transfer
 * ```ts
 * import { transfer } from "./threadpool_transfer.ts";
 * import assert from "node:assert/strict";
 *
 * export function fill(n: number) {
 *   const bytes = new Uint8Array(n).fill(7);
 *   return transfer(bytes, [bytes.buffer]);
 * }
 * assert.equal(fill(4).value.length, 4);
 * ```
 *
 * @module
 */

/**
 * The registered symbol a mark carries,
 * `Symbol.for("gevent-ts.threadpool.transfer")`: the pool and its threads
 * read it, and a task module that imports nothing (a `data:` URL) can make
 * a mark with it: `{ [Symbol.for("gevent-ts.threadpool.transfer")]: true,
 * value, list }`.
 *
 * @example
 * ```ts
 * import { TRANSFER, transfer } from "./threadpool_transfer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(TRANSFER, Symbol.for("gevent-ts.threadpool.transfer"));
 * assert.equal(transfer(1, [])[TRANSFER], true);
 * ```
 */
export const TRANSFER: unique symbol = Symbol.for(
  "gevent-ts.threadpool.transfer",
);

/**
 * What may be in a transfer list: an `ArrayBuffer` or a `MessagePort` (of
 * either runtime), or anything else the runtime's `postMessage` transfers.
 */
export type TransferItem = ArrayBuffer | { postMessage(value: unknown): void };

/**
 * A value marked by {@linkcode transfer}: `value` is posted with `list` as
 * its transfer list.
 *
 * @example
 * ```ts
 * import { transfer, type Transfer } from "./threadpool_transfer.ts";
 * import assert from "node:assert/strict";
 *
 * const buf = new ArrayBuffer(8);
 * const t: Transfer<ArrayBuffer> = transfer(buf, [buf]);
 * assert.equal(t.value, buf);
 * assert.deepEqual(t.list, [buf]);
 * ```
 */
export interface Transfer<T> {
  /** The mark (a registered symbol). */
  readonly [TRANSFER]: true;
  /** The value posted. */
  readonly value: T;
  /** What moves instead of being copied. */
  readonly list: readonly TransferItem[];
}

/**
 * Marks `value` to be posted to (or from) a pool's thread with `list` as
 * its transfer list: the buffers and ports in `list` move, the sender's
 * copies are detached. As an argument of `apply`, `spawn` or an item of a
 * map, the transfer happens at the call (a queued task already owns them).
 *
 * @param value The argument or result (anything structured-cloneable).
 * @param list The `ArrayBuffer`s and `MessagePort`s in it to move.
 * @returns The mark, which the pool unwraps on the other side.
 *
 * @example The sender's buffer is detached
 * ```ts
 * import { transfer } from "./threadpool_transfer.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new Uint8Array(1024);
 * const mark = transfer(bytes, [bytes.buffer]);
 * assert.equal(mark.value, bytes);
 * assert.equal(bytes.byteLength, 1024); // still here: moved when posted
 * ```
 */
export function transfer<T>(
  value: T,
  list: readonly TransferItem[],
): Transfer<T> {
  if (!Array.isArray(list)) {
    throw new TypeError(
      `Cannot transfer: list must be an array of ArrayBuffers or MessagePorts, received ${
        list === null ? "null" : typeof list
      }`,
    );
  }
  return { [TRANSFER]: true, value, list };
}

/**
 * Whether `v` is a mark made by {@linkcode transfer} (of any copy of this
 * module).
 *
 * @param v Anything.
 * @returns Whether it is a mark.
 *
 * @example
 * ```ts
 * import { isTransfer, transfer } from "./threadpool_transfer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isTransfer(transfer(1, [])), true);
 * assert.equal(isTransfer({ value: 1, list: [] }), false);
 * ```
 */
export function isTransfer(v: unknown): v is Transfer<unknown> {
  return typeof v === "object" && v !== null &&
    (v as { [TRANSFER]?: unknown })[TRANSFER] === true;
}
