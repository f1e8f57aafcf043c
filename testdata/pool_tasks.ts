/**
 * Tasks for test/threadpool_test.ts, run on ThreadPool's threads (built to
 * npm/testdata/pool_tasks.mjs for Node). The log is a SharedArrayBuffer of
 * Int32: [0] the next free index, then events appended atomically — task k
 * starting is k, ending is -k — so a test reads the exact interleaving.
 *
 * @module
 */

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
