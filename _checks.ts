/**
 * Owns the argument checks every module shares and the one way values are
 * described in error messages ("Cannot X: reason, received Y").
 *
 * @module
 */

/**
 * Describes a value for an error message: strings quoted, functions named,
 * a Promise (or any thenable) as `a Promise`, other objects as JSON.
 */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return v.toString();
  if (v === null || typeof v !== "object") return String(v);
  try {
    if (typeof (v as PromiseLike<unknown>).then === "function") {
      return "a Promise";
    }
    return JSON.stringify(v) ?? Object.prototype.toString.call(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Checks a duration in ms: `undefined` (forever) or a number ≥ 0 (up to
 * `Infinity`). Throws `TypeError`/`RangeError` naming `action` and the value.
 */
export function checkTimeout(
  action: string,
  timeout: unknown,
  name = "timeout",
): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new TypeError(
      `Cannot ${action}: ${name} must be a number of milliseconds or undefined, received ${
        describe(timeout)
      }`,
    );
  }
  if (timeout < 0) {
    throw new RangeError(
      `Cannot ${action}: ${name} must be ≥ 0, received ${timeout}`,
    );
  }
}

/** Checks an optional AbortSignal. */
export function checkSignal(action: string, signal: unknown): void {
  if (signal === undefined) return;
  if (
    signal === null || typeof signal !== "object" ||
    typeof (signal as AbortSignal).aborted !== "boolean" ||
    typeof (signal as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: signal must be an AbortSignal, received ${
        describe(signal)
      }`,
    );
  }
}

/**
 * The option names one call accepts, in the order its message lists them.
 * Make it once, at module level ({@linkcode optionNames}): checking a key
 * is then one `Set` lookup, with nothing allocated per call.
 */
export type OptionNames = ReadonlySet<string>;

/**
 * The option names a call accepts, for {@linkcode checkOptions}.
 *
 * @param names Every key the call reads from its options object.
 */
export function optionNames(...names: string[]): OptionNames {
  return new Set(names);
}

/** What every blocking call takes: `{ timeout, signal }`. */
export const BLOCKING_OPTIONS: OptionNames = optionNames("timeout", "signal");

/**
 * Checks that an options argument is an object or undefined, and that each
 * of its enumerable string keys (own or inherited: the call reads both) is
 * one the call accepts: a misspelt key (`{ tiemout: 5 }`) throws at once,
 * naming the key and the accepted ones. Costs nothing when `options` is
 * undefined.
 */
export function checkOptions(
  action: string,
  options: unknown,
  accepted: OptionNames,
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot ${action}: options must be an object, received ${
        describe(options)
      }`,
    );
  }
  for (const key in options) {
    if (!accepted.has(key)) throw unknownOption(action, key, accepted);
  }
}

function unknownOption(
  action: string,
  key: string,
  accepted: OptionNames,
): TypeError {
  return new TypeError(
    `Cannot ${action}: unknown option ${describe(key)} (accepted: ${
      [...accepted].join(", ")
    })`,
  );
}

/** Checks an optional count: an integer ≥ 0. */
export function checkCount(action: string, count: unknown): void {
  if (count === undefined) return;
  if (typeof count !== "number" || !Number.isInteger(count)) {
    throw new TypeError(
      `Cannot ${action}: count must be an integer, received ${describe(count)}`,
    );
  }
  if (count < 0) {
    throw new RangeError(
      `Cannot ${action}: count must be ≥ 0, received ${count}`,
    );
  }
}

/** Checks that `fn` is a function. */
export function checkFunction(action: string, name: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot ${action}: ${name} must be a function, received ${describe(fn)}`,
    );
  }
}
