/**
 * Tasks for test/threadpool_test.ts, run on ThreadPool's threads (built to
 * npm/testdata/pool_tasks.mjs for Node). The log is a SharedArrayBuffer of
 * Int32: [0] the next free index, then events appended atomically — task k
 * starting is k, ending is -k — so a test reads the exact interleaving.
 *
 * @module
 */
import { transfer } from "../threadpool_transfer.ts";

/** Adds two numbers. */
export function add(a: number, b: number): number {
  return a + b;
}

/** Throws an error with a cause. */
export function fail(message: string): never {
  throw new Error(message, { cause: new RangeError("the cause") });
}

function note(log: Int32Array, v: number): void {
  const i = Atomics.add(log, 0, 1) + 1;
  Atomics.store(log, i, v);
  Atomics.notify(log, i);
}

/**
 * Logs start `k`, waits until `gate[k]` is opened (non-zero), logs end `-k`.
 * Returns k.
 */
export function gated(
  log: Int32Array,
  gate: Int32Array,
  k: number,
): number {
  note(log, k);
  Atomics.wait(gate, k, 0);
  note(log, -k);
  return k;
}

/**
 * Logs start `k`, then waits for its signal to abort and logs `-k` (the
 * abort seen); rejects with the signal's reason.
 */
export function abortable(
  log: Int32Array,
  k: number,
  { signal }: { signal: AbortSignal },
): Promise<never> {
  note(log, k);
  return new Promise((_, reject) => {
    signal.addEventListener("abort", () => {
      note(log, -k);
      reject(signal.reason);
    });
  });
}

/** Logs start `k`, then spins forever, ignoring its signal. */
export function busy(log: Int32Array, k: number): never {
  note(log, k);
  for (;;) {
    // a CPU-bound loop that never yields
  }
}

/** Doubles a number. */
export function double(n: number): number {
  return 2 * n;
}

/** The byte length and the sum of the bytes of a Uint8Array received. */
export function sum(bytes: Uint8Array): number[] {
  let s = 0;
  for (let i = 0; i < bytes.length; i++) s += bytes[i];
  return [bytes.byteLength, s];
}

/**
 * `n` bytes, byte i = i & 255, returned by transfer; with `keep`, the
 * worker keeps a view to report whether its buffer was detached.
 */
export function fill(n: number) {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = i & 255;
  held = bytes;
  return transfer(bytes, [bytes.buffer]);
}

let held: Uint8Array | null = null;

/** The byte length of what the last `fill` returned, on the worker. */
export function heldLength(): number {
  return held === null ? -1 : held.byteLength;
}

/** Throws a RangeError for 0, else returns 10 / n. */
export function divide(n: number): number {
  if (n === 0) throw new RangeError("division by zero");
  return 10 / n;
}

/** An item of a map over `gated`: its log, its gate, its number. */
export interface GatedItem {
  log: Int32Array;
  gate: Int32Array;
  k: number;
}

/** `gated` for a map's item. */
export function gatedItem({ log, gate, k }: GatedItem): number {
  return gated(log, gate, k);
}

/** `abortable` for a map's item. */
export function abortableItem(
  { log, k }: { log: Int32Array; k: number },
  options: { signal: AbortSignal },
): Promise<never> {
  return abortable(log, k, options);
}

/** Posts `hello <name>` on a port it received, closes it; returns "sent". */
export function greet(port: MessagePort, name: string): string {
  port.postMessage(`hello ${name}`);
  port.close();
  return "sent";
}
