/**
 * Owns how the library's objects look when a runtime prints them: the
 * one-line inspection of classes with internal state (Node's `util.inspect`
 * and `console.log`, Deno's `console.log` and `Deno.inspect` show their
 * `toString()`), a greenlet's call as gevent shows it (`crawl(7)`: each
 * argument shortened), and durations left ("3.2 s left") in run info.
 *
 * @module
 */

// Symbol.for keys, installed on prototypes at class definition (a static
// block): no computed class member, so the bundle keeps them and the
// declarations never name them.
const NODE_INSPECT = Symbol.for("nodejs.util.inspect.custom");
const DENO_INSPECT = Symbol.for("Deno.customInspect");

function oneLine(this: object): string {
  return String(this);
}

/**
 * Makes the runtime print instances of `cls` (and its subclasses) as
 * `text` says (default: their `toString()`), on Node and on Deno, instead
 * of their fields.
 */
export function inspectAsString(
  cls: { readonly prototype: object },
  text: (this: never) => string = oneLine,
): void {
  for (const key of [NODE_INSPECT, DENO_INSPECT]) {
    Object.defineProperty(cls.prototype, key, {
      value: function (this: never): string {
        return text.call(this);
      },
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/** How many characters of one argument a greenlet's description shows. */
const ARG_CHARS = 50;
/** Items of an array (or keys of an object) shown inside an argument. */
const ITEMS = 6;

function cut(text: string): string {
  return text.length <= ARG_CHARS ? text : `${text.slice(0, ARG_CHARS - 1)}…`;
}

function functionName(f: object): string {
  const name = (f as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : "(anonymous)";
}

/** A value as a short, one-line expression; `nested`: inside another one. */
function repr(v: unknown, nested: boolean): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v.length > ARG_CHARS ? v.slice(0, ARG_CHARS) : v);
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "bigint":
      return `${v}n`;
    case "symbol":
      return v.toString();
    case "function":
      return `[Function ${functionName(v)}]`;
    case "object":
      if (v === null) return "null";
      return objectRepr(v, nested);
    default:
      return String(v);
  }
}

function objectRepr(o: object, nested: boolean): string {
  if (Array.isArray(o)) {
    if (nested) return o.length === 0 ? "[]" : "[…]";
    const shown = o.slice(0, ITEMS).map((x) => repr(x, true));
    if (o.length > ITEMS) shown.push("…");
    return `[${shown.join(", ")}]`;
  }
  if (ArrayBuffer.isView(o)) {
    const n = (o as { length?: number }).length ?? o.byteLength;
    return `${o.constructor.name}(${n})`;
  }
  if (o instanceof Map || o instanceof Set) {
    return `${o.constructor.name}(${o.size})`;
  }
  // Objects that describe themselves (greenlets, locks, URLs, errors, dates)
  const own = (o as { toString?: unknown }).toString;
  if (typeof own === "function" && own !== Object.prototype.toString) {
    return String(o);
  }
  const proto = Object.getPrototypeOf(o);
  const ctor = proto === null || proto === Object.prototype
    ? ""
    : `${functionName(proto.constructor ?? {})} `;
  const keys = Object.keys(o);
  if (keys.length === 0) return `${ctor}{}`;
  if (nested) return `${ctor}{…}`;
  const shown = keys.slice(0, ITEMS).map((k) =>
    `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${
      repr((o as Record<string, unknown>)[k], true)
    }`
  );
  if (keys.length > ITEMS) shown.push("…");
  return `${ctor}{ ${shown.join(", ")} }`;
}

/**
 * A call as gevent shows a greenlet's (`crawl(7)`): the function's name
 * and each argument as a short expression, cut to 50 characters.
 */
export function formatCall(
  fn: object,
  args: readonly unknown[],
): string {
  const parts = args.map((a) => {
    try {
      return cut(repr(a, false));
    } catch {
      return "[object]"; // a getter or a proxy that throws
    }
  });
  return `${functionName(fn)}(${parts.join(", ")})`;
}

/** A value as a short, one-line expression (cut to 50 characters). */
export function shortValue(v: unknown): string {
  try {
    return cut(repr(v, false));
  } catch {
    return "[object]"; // a getter or a proxy that throws
  }
}

/** How many characters of an error's message a summary shows. */
const MESSAGE_CHARS = 100;

/** An error in one line: `TypeError: fetch failed` (message cut to 100). */
export function errorSummary(e: unknown): string {
  if (e instanceof Error) {
    const m = String(e.message).split("\n")[0];
    const msg = m.length <= MESSAGE_CHARS
      ? m
      : `${m.slice(0, MESSAGE_CHARS - 1)}…`;
    return msg === "" ? e.name : `${e.name}: ${msg}`;
  }
  return shortValue(e);
}

/** A duration still to run, for run info: "250 ms left", "3.2 s left". */
export function timeLeft(ms: number): string {
  if (!(ms > 0.5)) return "due now";
  if (ms < 999.5) return `${Math.round(ms)} ms left`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s left`;
  if (ms < 3_597_000) return `${(ms / 60_000).toFixed(1)} min left`;
  return `${(ms / 3_600_000).toFixed(1)} h left`;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

/**
 * What a wait is on, as run info, the monitor and traces print it:
 * `"<what> <target>"` (`get from <Queue …>`, `read from Conn(…)`); made once
 * per object and kind of wait, so that a wait costs no string.
 */
export class WaitLabel {
  readonly what: string;
  readonly target: object;
  constructor(what: string, target: object) {
    this.what = what;
    this.target = target;
  }
  toString(): string {
    return `${this.what} ${this.target}`;
  }
}

/** How many causes a failure report follows (they may form a cycle). */
const CAUSES = 10;

/**
 * An error as `hub.handleError` prints it: its stack, then each error of
 * its `cause` chain as `Caused by: <stack>` (as Deno prints an uncaught
 * error).
 */
export function formatError(error: unknown): string {
  let text = errorText(error);
  const seen = new Set<unknown>([error]);
  let e = error;
  while (e instanceof Error && e.cause !== undefined && !seen.has(e.cause)) {
    e = e.cause;
    seen.add(e);
    if (seen.size > CAUSES + 1) break;
    text += `\nCaused by: ${errorText(e)}`;
  }
  return text;
}
