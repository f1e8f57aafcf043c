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

/** Whether `timeout` passes {@linkcode checkTimeout}. */
function isTimeout(timeout: unknown): boolean {
  return timeout === undefined || (typeof timeout === "number" && timeout >= 0);
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
  if (isTimeout(timeout)) return;
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

/** Whether `signal` passes {@linkcode checkSignal}. */
function isSignal(signal: unknown): boolean {
  return signal === undefined ||
    (signal !== null && typeof signal === "object" &&
      typeof (signal as AbortSignal).aborted === "boolean" &&
      typeof (signal as AbortSignal).addEventListener === "function");
}

/**
 * Checks a required duration in ms: a number ≥ 0 (up to `Infinity`), named
 * `ms` in the message.
 */
export function checkMs(action: string, ms: unknown): void {
  if (typeof ms !== "number") {
    throw new TypeError(
      `Cannot ${action}: ms must be a number of milliseconds, received ${
        describe(ms)
      }`,
    );
  }
  checkTimeout(action, ms, "ms");
}

/** Checks an optional AbortSignal. */
export function checkSignal(action: string, signal: unknown): void {
  if (isSignal(signal)) return;
  throw new TypeError(
    `Cannot ${action}: signal must be an AbortSignal, received ${
      describe(signal)
    }`,
  );
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
  const key = unknownKey(options, accepted);
  if (key === undefined) return;
  throw new TypeError(
    `Cannot ${action}: unknown option ${describe(key)} (accepted: ${
      [...accepted].join(", ")
    })`,
  );
}

/** The first enumerable string key of `options` not accepted, if any. */
function unknownKey(
  options: object,
  accepted: OptionNames,
): string | undefined {
  for (const key in options) {
    if (!accepted.has(key)) return key;
  }
  return undefined;
}

/**
 * Checks the `{ timeout, signal }` options of a blocking method: `verb` of
 * `owner` ("acquire" of a `BoundedSemaphore`). The action in the message
 * (`acquire BoundedSemaphore`: the owner's class, so a subclass names
 * itself) is made only when one is thrown, not on every call.
 */
export function checkBlocking(
  verb: string,
  owner: object,
  options: unknown,
): void {
  if (options === undefined) return;
  const o = options as { timeout?: unknown; signal?: unknown };
  if (
    o !== null && typeof o === "object" &&
    unknownKey(o, BLOCKING_OPTIONS) === undefined && isTimeout(o.timeout) &&
    isSignal(o.signal)
  ) return;
  // one of these throws: they test what the line above tested
  const action = `${verb} ${owner.constructor.name}`;
  checkOptions(action, o, BLOCKING_OPTIONS);
  checkTimeout(action, o.timeout);
  checkSignal(action, o.signal);
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
