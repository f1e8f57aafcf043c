/**
 * The one test adapter of the suite: every `*_test.ts` registers its tests
 * through {@linkcode test} (or `test.virtual`, the same in virtual time),
 * which uses `Deno.test` with the op and resource
 * sanitizers on under Deno, and `node:test` under Node (where the suite runs
 * against the built bundle). After each test it also checks that the test
 * left no greenlet alive on the default hub, and fails it if any greenlet
 * failure reached a hub's default `handleError` while it ran: a test that
 * expects failures declares them, with {@linkcode capturingErrors} (or its
 * own `hub.handleError`).
 *
 * @module
 */
import { spawn as spawnProcess } from "node:child_process";
import process from "node:process";
import { test as nodeTest } from "node:test";
import { getHub, type Greenlet, Hub, sleep, spawn } from "../mod.ts";
import {
  capturingErrors,
  errorsOf,
  type VirtualClock,
  withVirtualTime,
} from "../testing.ts";

export { capturingErrors, errorsOf };

type TestFn = () => void | Promise<void>;

interface DenoTestApi {
  test(def: {
    name: string;
    fn: () => Promise<void>;
    sanitizeOps: boolean;
    sanitizeResources: boolean;
    sanitizeExit: boolean;
    ignore?: boolean;
  }): void;
}

const deno = (globalThis as { Deno?: DenoTestApi }).Deno;

/** True when the suite runs under Deno (on the sources). */
export const isDeno: boolean = deno !== undefined;

/**
 * True in the CommonJS build of the suite (`npm/test/cjs`), whose module
 * wrapper defines `module`; false under Deno and in the ESM build.
 */
const isCommonJs: boolean = typeof module === "object";

async function runChecked(fn: TestFn): Promise<void> {
  const unexpected: string[] = [];
  const proto = Hub.prototype;
  const original = proto.handleError;
  const record = function (this: Hub, greenlet: Greenlet, error: unknown) {
    unexpected.push(`${greenlet}: ${describeError(error)}`);
    original.call(this, greenlet, error);
  };
  proto.handleError = record;
  try {
    // Every test starts as main resumed by the hub: it runs alone until its
    // first switch point (rule 8), whatever the test runner did in between
    // (Deno gives the runtime a turn between tests, Node's runner may not).
    await sleep(0);
    await fn();
  } finally {
    proto.handleError = original;
  }
  // A test that saved `hub.handleError` and assigned it back restored this
  // test's recorder as the default hub's own property: left there, it would
  // swallow the errors of every later test.
  const hub = getHub();
  if (Object.hasOwn(hub, "handleError")) {
    const own = hub.handleError;
    delete (hub as { handleError?: unknown }).handleError;
    if (own !== record) {
      throw new Error("test left the default hub's handleError replaced");
    }
  }
  if (unexpected.length !== 0) {
    throw new Error(
      `a greenlet failed and the test did not expect it (declare expected ` +
        `failures with capturingErrors):\n  ${unexpected.join("\n  ")}`,
    );
  }
  checkNothingLeft(getHub(), "the default hub");
}

/** Throws unless `hub` has no greenlet alive and main waits on nothing. */
function checkNothingLeft(hub: Hub, which: string): void {
  const left = hub.runInfo();
  // Patched timers belong to no greenlet: a library's own (undici's parser
  // timeout) may outlive the test; greenlets and waits of main may not.
  const alive = left.split("\n").filter((line) =>
    line.includes("<Greenlet ") && !line.endsWith(", ended)") &&
    line !== '<Greenlet "main" #0> running'
  );
  if (alive.length !== 0) {
    throw new Error(`test left greenlets alive on ${which}:\n${left}`);
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Registers a test.
 *
 * @param name The test's name.
 * @param fn The test body.
 * @param options `denoOnly`: skip under Node (e.g. it runs `.ts` files);
 * `nodeOnly`: skip under Deno (e.g. Node's own APIs, patched);
 * `esmOnly`: skip in the CommonJS build (a test whose work is a child
 * process, the same for both builds).
 */
export function test(
  name: string,
  fn: TestFn,
  options: { denoOnly?: boolean; nodeOnly?: boolean; esmOnly?: boolean } = {},
): void {
  if (deno !== undefined) {
    deno.test({
      name,
      fn: () => runChecked(fn),
      sanitizeOps: true,
      sanitizeResources: true,
      sanitizeExit: true,
      ignore: options.nodeOnly === true,
    });
  } else {
    const skip = options.denoOnly === true ||
      (options.esmOnly === true && isCommonJs);
    nodeTest(name, { skip }, () => runChecked(fn));
  }
}

/**
 * Registers a test whose body runs in virtual time ({@linkcode withVirtualTime}):
 * its sleeps and timeouts take no real time and fire at exact instants, so
 * the test asserts exact interleavings without racing the real clock. Like
 * {@linkcode test}, it fails if the body leaves a greenlet alive (on the
 * virtual hub) or a greenlet failure reaches a default `handleError`.
 * Called as `test.virtual(name, fn)`.
 *
 * @param name The test's name.
 * @param fn The test body; gets the virtual clock (automatic).
 * @param options As {@linkcode test}'s.
 */
function virtualTest(
  name: string,
  fn: (clock: VirtualClock) => void | Promise<void>,
  options: { denoOnly?: boolean; nodeOnly?: boolean } = {},
): void {
  test(
    name,
    () =>
      withVirtualTime(async (clock) => {
        await fn(clock);
        checkNothingLeft(getHub(), "the virtual hub");
      }),
    options,
  );
}

test.virtual = virtualTest;

/**
 * `fn` made to run each call in virtual time ({@linkcode withVirtualTime}):
 * for the predicate of a property test, so that each run gets a fresh hub
 * and exact instants, and a failure replays exactly.
 *
 * @param fn The predicate.
 * @returns The predicate, each call in a `withVirtualTime` of its own.
 */
export function inVirtualTime<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return (...args) => withVirtualTime(() => fn(...args));
}

/**
 * A deferred: a promise plus its resolve function (Node 20 has no
 * `Promise.withResolvers`).
 *
 * @returns The promise and a function that resolves it.
 */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
} {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** What {@linkcode runProcess} resolves with. */
export interface ProcessResult {
  /** The exit code (-1 if killed by a signal). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** Both, in the order they arrived. */
  output: string;
}

/**
 * Runs a command to its end with `NO_COLOR=1` added to the environment.
 *
 * @param cmd The executable.
 * @param args Its arguments.
 * @param cwd The working directory (default: the current one).
 * @param timeoutMs Kill the process after this many ms (code -1): a test
 * fails instead of hanging.
 * @param env Variables added to the environment.
 * @returns Exit code and output.
 */
export async function runProcess(
  cmd: string,
  args: string[],
  cwd?: string,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  const child = spawnProcess(cmd, args, {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const r: ProcessResult = { code: -1, stdout: "", stderr: "", output: "" };
  child.stdout.on("data", (d) => {
    r.stdout += d;
    r.output += d;
  });
  child.stderr.on("data", (d) => {
    r.stderr += d;
    r.output += d;
  });
  const done = deferred<number>();
  child.on("close", (code) => done.resolve(code ?? -1));
  const guard = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    r.code = await done.promise;
  } finally {
    clearTimeout(guard);
  }
  return r;
}

/** Flags for {@linkcode runFixture}, per runtime. */
export interface FixtureOptions {
  /** `deno run` flags (after `run --quiet`): permissions, `--v8-flags=…`. */
  deno?: string[];
  /** `node` flags: `--expose-gc`. */
  node?: string[];
  /** Kill the process after this many ms (see {@linkcode runProcess}). */
  timeoutMs?: number;
}

/**
 * Runs the fixture `testdata/<name>.ts` in a process of its own, the way
 * the suite runs: the source under Deno (`deno run --quiet …`), the built
 * `npm/testdata/<name>.mjs` under Node.
 *
 * @param name The fixture's base name: `"patch_gc"`.
 * @param options Each runtime's flags, and a timeout.
 * @returns Exit code and output.
 */
export function runFixture(
  name: string,
  options: FixtureOptions = {},
): Promise<ProcessResult> {
  const { deno: denoFlags = [], node: nodeFlags = [], timeoutMs } = options;
  return isDeno
    ? runProcess(
      (deno as unknown as { execPath(): string }).execPath(),
      ["run", "--quiet", ...denoFlags, `testdata/${name}.ts`],
      undefined,
      timeoutMs,
    )
    : runProcess(
      process.execPath,
      [...nodeFlags, `npm/testdata/${name}.mjs`],
      undefined,
      timeoutMs,
    );
}

/**
 * Spawns `body(away)` and kills it while it awaits `away` — a promise the
 * hub does not own, so the kill cannot land there — then lets `away`
 * resolve: the kill is pending when the greenlet goes on.
 *
 * @param body The greenlet's function; it must `await away` first.
 * @returns The greenlet, once it ended.
 */
export async function killedWhileAway(
  body: (away: Promise<void>) => unknown,
): Promise<Greenlet> {
  const gate = deferred();
  const g = spawn(body, gate.promise);
  await sleep(0);
  g.kill(undefined, { block: false });
  gate.resolve();
  await g.join();
  return g;
}
