/**
 * Option objects are checked. For every public call that takes an options
 * object, a misspelt key throws a `TypeError` at once, naming the key and
 * the keys the call accepts; a `count` must be an integer; a Promise (or
 * any thenable) given where a function is expected is described as one.
 *
 * The table is complete by construction: the last test reads the
 * declarations of the public entry points (`deno doc --json mod.ts
 * patch.ts testing.ts`), finds every parameter typed as an options object (a type
 * named `…Options`, an object literal type, or a union with one) of every
 * exported function, constructor and public method — inherited ones
 * included, per concrete class — and fails unless the table has exactly
 * those rows.
 */
import assert from "node:assert/strict";
import {
  AsyncResult,
  BoundedSemaphore,
  Channel,
  DummySemaphore,
  Event,
  failAfter,
  formatRunInfo,
  getHub,
  Greenlet,
  Group,
  Hub,
  iwait,
  JoinableQueue,
  joinAll,
  killAll,
  LifoQueue,
  local,
  moveOnAfter,
  Pool,
  PriorityQueue,
  Queue,
  RLock,
  Semaphore,
  shield,
  spawn,
  spawnLater,
  startMonitor,
  startTrace,
  stopMonitor,
  wait,
  withTimeout,
} from "../mod.ts";
import { patchAll, patchSync, patchTimers, unpatchAll } from "../patch.ts";
import { capturingErrors, errorsOf, withVirtualTime } from "../testing.ts";
import { runProcess, test } from "./test_adapter.ts";

/** One public call that takes an options object. */
interface OptionsRow {
  /** As the declarations name it: `joinAll`, `new Hub`, `Semaphore#acquire`. */
  api: string;
  /** Calls it with `options` (on a greenlet that ended: nothing waits). */
  call: (options: object, ended: Greenlet) => unknown;
  /** Options with one misspelt key. */
  options: object;
  /** The exact TypeError message. */
  message: string;
}

const TIMEOUT_SIGNAL = "timeout, signal";
const misspelt = { tiemout: 5 };
const unknownOption = (action: string, key: string, accepted: string) =>
  `Cannot ${action}: unknown option "${key}" (accepted: ${accepted})`;

function lockRows(): OptionsRow[] {
  const rows: OptionsRow[] = [];
  for (const Lock of [Semaphore, BoundedSemaphore, RLock, DummySemaphore]) {
    for (const method of ["acquire", "hold"] as const) {
      rows.push({
        api: `${Lock.name}#${method}`,
        call: (o) => new Lock()[method](o),
        options: misspelt,
        message: unknownOption(
          `${method} ${Lock.name}`,
          "tiemout",
          TIMEOUT_SIGNAL,
        ),
      });
    }
  }
  return rows;
}

function queueRows(): OptionsRow[] {
  const rows: OptionsRow[] = [];
  const verbs = { put: "put into", get: "get from", peek: "peek at" } as const;
  for (
    const Q of [Queue, LifoQueue, PriorityQueue, JoinableQueue, Channel]
  ) {
    for (const method of ["put", "get", "peek"] as const) {
      rows.push({
        api: `${Q.name}#${method}`,
        call: (o) => method === "put" ? new Q().put(1, o) : new Q()[method](o),
        options: { timeout: 5, sginal: undefined },
        message: unknownOption(
          `${verbs[method]} ${Q.name}`,
          "sginal",
          TIMEOUT_SIGNAL,
        ),
      });
    }
  }
  return rows;
}

function groupRows(): OptionsRow[] {
  const rows: OptionsRow[] = [];
  for (const make of [() => new Group(), () => new Pool(2)]) {
    const name = make().constructor.name;
    rows.push(
      {
        api: `${name}#join`,
        call: (o) => make().join(o),
        options: { raiseErrors: true },
        message: unknownOption(
          `join ${name}`,
          "raiseErrors",
          "timeout, signal, raiseError",
        ),
      },
      {
        api: `${name}#kill`,
        call: (o) => make().kill(undefined, o),
        options: { blocking: false },
        message: unknownOption(`kill ${name}`, "blocking", "block, timeout"),
      },
      {
        api: `${name}#imap`,
        call: (o) => make().imap((n: number) => n, [1], o),
        options: { maxSize: 1 },
        message: unknownOption(`imap in ${name}`, "maxSize", "maxsize"),
      },
      {
        api: `${name}#imapUnordered`,
        call: (o) => make().imapUnordered((n: number) => n, [1], o),
        options: { maxSize: 1 },
        message: unknownOption(
          `imapUnordered in ${name}`,
          "maxSize",
          "maxsize",
        ),
      },
    );
  }
  rows.push({
    api: "Pool#add",
    call: (o, ended) => new Pool(1).add(ended, o),
    options: misspelt,
    message: unknownOption("add to Pool", "tiemout", TIMEOUT_SIGNAL),
  });
  return rows;
}

/** Every public call that takes an options object. */
const OPTIONS_TABLE: OptionsRow[] = [
  {
    api: "new Hub",
    call: (o) => new Hub(o),
    options: { clok: { now: () => 0 } },
    message: unknownOption("create Hub", "clok", "clock"),
  },
  {
    api: "Hub#runInfo",
    call: (o) => new Hub().runInfo(o),
    options: { al: true },
    message: unknownOption("format run info", "al", "all"),
  },
  {
    api: "formatRunInfo",
    call: (o) => formatRunInfo(o),
    options: { al: true },
    message: unknownOption("format run info", "al", "all"),
  },
  {
    api: "Greenlet#get",
    call: (o, ended) => ended.get(o),
    options: misspelt,
    message: unknownOption("get greenlet result", "tiemout", "timeout"),
  },
  {
    api: "Greenlet#result",
    call: (o, ended) => ended.result(o),
    options: misspelt,
    message: unknownOption("get greenlet result", "tiemout", "timeout"),
  },
  {
    api: "Greenlet#kill",
    call: (o, ended) => ended.kill(undefined, o),
    options: { blocking: false },
    message: unknownOption("kill greenlet", "blocking", "block, timeout"),
  },
  {
    api: "joinAll",
    call: (o, ended) => joinAll([ended], o),
    options: { raiseErrors: true },
    message: unknownOption(
      "joinAll",
      "raiseErrors",
      "timeout, raiseError, count",
    ),
  },
  {
    api: "killAll",
    call: (o, ended) => killAll([ended], o),
    options: { err: new Error("stop") },
    message: unknownOption("killAll", "err", "error, block, timeout"),
  },
  {
    api: "wait",
    call: (o, ended) => wait([ended], o),
    options: { cnt: 1 },
    message: unknownOption("wait", "cnt", "timeout, count"),
  },
  {
    // without objects it waits for the hub to go quiet: no count there
    api: "wait",
    call: (o) => wait(undefined, o),
    options: { count: 1 },
    message: unknownOption("wait", "count", "timeout"),
  },
  {
    api: "iwait",
    call: (o, ended) => iwait([ended], o),
    options: misspelt,
    message: unknownOption("iwait", "tiemout", "timeout, count"),
  },
  {
    // `{ timeoutValue }` is told apart from an argument for fn by that own
    // key: another key beside it is a misspelling
    api: "withTimeout",
    call: (o) => withTimeout(10, () => 1, o as { timeoutValue: unknown }),
    options: { timeoutValue: null, tiemout: 5 },
    message: unknownOption("run withTimeout", "tiemout", "timeoutValue"),
  },
  {
    api: "shield",
    call: (o) => shield(() => 1, o),
    options: misspelt,
    message: unknownOption("shield", "tiemout", "timeout"),
  },
  {
    api: "startMonitor",
    call: (o) => startMonitor(o),
    options: { maxBlockingTimeMs: 50 },
    message: unknownOption(
      "start monitor",
      "maxBlockingTimeMs",
      "maxBlockingTime, report, spawnSites",
    ),
  },
  {
    api: "startTrace",
    call: (o) => startTrace(o),
    options: { maxEvent: 10 },
    message: unknownOption("start trace", "maxEvent", "maxEvents"),
  },
  {
    api: "Event#wait",
    call: (o) => new Event().wait(o),
    options: misspelt,
    message: unknownOption("wait on Event", "tiemout", TIMEOUT_SIGNAL),
  },
  {
    api: "AsyncResult#get",
    call: (o) => new AsyncResult().get(o),
    options: misspelt,
    message: unknownOption("get AsyncResult", "tiemout", TIMEOUT_SIGNAL),
  },
  {
    api: "AsyncResult#wait",
    call: (o) => new AsyncResult().wait(o),
    options: misspelt,
    message: unknownOption("wait on AsyncResult", "tiemout", TIMEOUT_SIGNAL),
  },
  ...lockRows(),
  ...queueRows(),
  {
    api: "new PriorityQueue",
    call: (o) => new PriorityQueue(undefined, o),
    options: { compare: (a: number, b: number) => a - b },
    message: unknownOption("create PriorityQueue", "compare", "comparator"),
  },
  {
    api: "JoinableQueue#join",
    call: (o) => new JoinableQueue().join(o),
    options: misspelt,
    message: unknownOption("join JoinableQueue", "tiemout", TIMEOUT_SIGNAL),
  },
  ...groupRows(),
  {
    api: "patchAll",
    call: (o) => patchAll(o),
    options: { timer: false },
    message: unknownOption(
      "patchAll",
      "timer",
      "timers, fetch, deno, node, sync",
    ),
  },
  {
    api: "patchSync",
    call: (o) => patchSync(o),
    options: { mdoe: "off" },
    message: unknownOption("patchSync", "mdoe", "mode, report, minMs, once"),
  },
  {
    api: "withVirtualTime",
    call: (o) => withVirtualTime(() => {}, o),
    options: { atuo: false },
    message: unknownOption("run withVirtualTime", "atuo", "auto, strict"),
  },
  {
    api: "moveOnAfter",
    call: (o) => moveOnAfter(10, () => 1, o),
    options: { sheild: true },
    message: unknownOption("run moveOnAfter", "sheild", "shield"),
  },
  {
    api: "failAfter",
    call: (o) => failAfter(10, () => 1, o),
    options: { sheild: true },
    message: unknownOption("run failAfter", "sheild", "shield"),
  },
];

test("every call that takes options names a misspelt key and the accepted ones", async () => {
  const ended = spawn(() => 1);
  await ended.join();
  const failures: string[] = [];
  for (const row of OPTIONS_TABLE) {
    try {
      const r = row.call(row.options, ended);
      // a Promise settled anyway (a greenlet, a wait) must not linger
      if (r instanceof Promise) r.catch(() => {});
      failures.push(`${row.api}: did not throw`);
    } catch (e) {
      if (!(e instanceof TypeError) || e.message !== row.message) {
        failures.push(`${row.api}: threw ${e}\n  expected ${row.message}`);
      }
    }
  }
  unpatchAll();
  stopMonitor();
  assert.deepEqual(failures, []);
});

test("options with inherited keys are checked too; known keys and symbols pass", async () => {
  const sem = new Semaphore(1);
  const base = { tiemout: 5 };
  assert.throws(() => sem.acquire(Object.create(base)), {
    name: "TypeError",
    message: unknownOption("acquire Semaphore", "tiemout", TIMEOUT_SIGNAL),
  });
  // non-enumerable and symbol keys are not options
  const o = Object.defineProperty({ timeout: 5 }, "hidden", { value: 1 });
  assert.equal(await sem.acquire({ ...o, [Symbol("tag")]: 1 }), true);
  sem.release();
  // keys present but undefined are accepted (a spread of defaults)
  assert.equal(
    await sem.acquire({ timeout: undefined, signal: undefined }),
    true,
  );
});

test("blocking calls refuse what the checks refuse, naming the caller's class", async () => {
  class MyLock extends RLock {}
  const calls = [
    ["acquire MyLock", (o: unknown) => new MyLock().acquire(o as never)],
    ["hold Semaphore", (o: unknown) => new Semaphore().hold(o as never)],
    ["put into LifoQueue", (o: unknown) => new LifoQueue().put(1, o as never)],
    ["peek at Channel", (o: unknown) => new Channel().peek(o as never)],
  ] as const;
  const refused: [unknown, string, string][] = [
    [null, "TypeError", "options must be an object, received null"],
    [5, "TypeError", "options must be an object, received 5"],
    [{ timeout: -1 }, "RangeError", "timeout must be ≥ 0, received -1"],
    [
      { timeout: NaN },
      "TypeError",
      "timeout must be a number of milliseconds or undefined, received NaN",
    ],
    [
      { timeout: "5" },
      "TypeError",
      'timeout must be a number of milliseconds or undefined, received "5"',
    ],
    [{ signal: {} }, "TypeError", "signal must be an AbortSignal, received {}"],
    [
      { signal: null },
      "TypeError",
      "signal must be an AbortSignal, received null",
    ],
  ];
  for (const [action, call] of calls) {
    for (const [options, name, reason] of refused) {
      assert.throws(() => call(options), {
        name,
        message: `Cannot ${action}: ${reason}`,
      });
    }
  }
  // and accepts the rest: 0, Infinity, a signal
  const sem = new Semaphore(1);
  const signal = new AbortController().signal;
  assert.equal(await sem.acquire({ timeout: Infinity, signal }), true);
  assert.equal(await sem.acquire({ timeout: 0 }), false);
  sem.release();
});

test("a count must be an integer ≥ 0", () => {
  const cases = [
    ["joinAll", (o: object) => joinAll([], o)],
    ["wait", (o: object) => wait([], o)],
    ["iwait", (o: object) => iwait([], o)],
  ] as const;
  for (const [action, call] of cases) {
    for (const count of [1.5, NaN, Infinity]) {
      assert.throws(() => call({ count }), {
        name: "TypeError",
        message:
          `Cannot ${action}: count must be an integer, received ${count}`,
      });
    }
    assert.throws(() => call({ count: -1 }), {
      name: "RangeError",
      message: `Cannot ${action}: count must be ≥ 0, received -1`,
    });
  }
});

/** One public call that takes a function: given a Promise instead. */
interface FunctionRow {
  /** Calls it with `p` (`g`: a greenlet to link to). */
  call: (p: unknown, g: Greenlet) => unknown;
  message: string;
}

const received = (action: string, name: string) =>
  `Cannot ${action}: ${name} must be a function, received a Promise`;

const FUNCTION_TABLE: FunctionRow[] = [
  { call: (p) => spawn(p as never), message: received("spawn", "fn") },
  {
    call: (p) => spawnLater(1, p as never),
    message: received("spawn", "fn"),
  },
  { call: (p) => new Greenlet(p as never), message: received("spawn", "fn") },
  { call: (p) => getHub().spawn(p as never), message: received("spawn", "fn") },
  {
    call: (p) => withTimeout(10, p as never),
    message: received("run withTimeout", "fn"),
  },
  {
    call: (p) => withVirtualTime(p as never),
    message: received("run withVirtualTime", "fn"),
  },
  {
    call: (p) => withTimeout(p as never, () => 1),
    message:
      "Cannot run withTimeout: ms must be a number of milliseconds, received a Promise",
  },
  { call: (p) => shield(p as never), message: received("shield", "fn") },
  {
    call: (p) => moveOnAfter(10, p as never),
    message: received("run moveOnAfter", "fn"),
  },
  {
    call: (p) => failAfter(10, p as never),
    message: received("run failAfter", "fn"),
  },
  {
    call: (p) => capturingErrors(p as never),
    message: received("capture errors", "fn"),
  },
  {
    call: (p) => errorsOf(p as never),
    message: received("collect errors", "fn"),
  },
  { call: (p) => local(p as never), message: received("create local", "init") },
  {
    call: (p) => new Event().link(p as never),
    message: received("link", "callback"),
  },
  {
    call: (p) => new Event().rawlink(p as never),
    message: received("rawlink", "callback"),
  },
  {
    call: (p, g) => g.linkValue(p as never),
    message: received("linkValue", "callback"),
  },
  {
    call: (p, g) => g.linkException(p as never),
    message: received("linkException", "callback"),
  },
  {
    call: (p) => new Group().spawn(p as never),
    message: received("spawn in Group", "fn"),
  },
  {
    call: (p) => new Pool(1).spawn(p as never),
    message: received("spawn in Pool", "fn"),
  },
  {
    call: (p) => new Group().map(p as never, []),
    message: received("map in Group", "fn"),
  },
  {
    call: (p) => new Pool(1).imap(p as never, []),
    message: received("imap in Pool", "fn"),
  },
  {
    call: (p) => new Group().imapUnordered(p as never, []),
    message: received("imapUnordered in Group", "fn"),
  },
  {
    call: (p) => new Pool(1).apply(p as never),
    message: received("apply in Pool", "fn"),
  },
  {
    call: (p) => new PriorityQueue(undefined, { comparator: p as never }),
    message: received("create PriorityQueue", "comparator"),
  },
  {
    call: (p) => startMonitor({ report: p as never }),
    message: received("start monitor", "report"),
  },
  {
    call: (p) => patchSync({ report: p as never }),
    message: received("patchSync", "report"),
  },
  {
    call: (p) => {
      patchTimers();
      try {
        return setTimeout(p as never, 1);
      } finally {
        unpatchAll();
      }
    },
    message: received("setTimeout", "callback"),
  },
];

test("a Promise or thenable where a function is expected is described as a Promise", async () => {
  const g = spawn(() => 1);
  await g.join();
  const thenable = { then: (resolve: (v: number) => void) => resolve(1) };
  for (const p of [Promise.resolve(1), thenable]) {
    for (const row of FUNCTION_TABLE) {
      assert.throws(() => row.call(p, g), {
        name: "TypeError",
        message: row.message,
      });
    }
  }
});

// ---------------------------------------------------------------------------
// Completeness: the table above against the declarations.

interface DocType {
  kind: string;
  value?: unknown;
}
interface DocParam {
  kind: string;
  name?: string;
  tsType?: DocType;
  left?: DocParam;
  arg?: DocParam;
}
interface DocFunction {
  params: DocParam[];
}
interface DocMethod {
  name: string;
  kind: string;
  isStatic?: boolean;
  accessibility?: string;
  functionDef: DocFunction;
}
interface DocClass {
  isAbstract?: boolean;
  extends?: string;
  constructors?: DocFunction[];
  methods?: DocMethod[];
}
interface DocNode {
  symbols: {
    name: string;
    declarations: { kind: string; def: DocFunction | DocClass }[];
  }[];
}

/** A parameter typed as an options object (or a union with one). */
function isOptionsType(t: DocType | undefined): boolean {
  if (t === undefined) return false;
  if (t.kind === "typeLiteral") return true;
  if (t.kind === "typeRef") {
    return /Options$/.test((t.value as { typeName: string }).typeName);
  }
  if (t.kind === "union") return (t.value as DocType[]).some(isOptionsType);
  return false;
}

function takesOptions(f: DocFunction): boolean {
  return f.params.some((p) => {
    const q = p.kind === "assign" ? p.left! : p;
    return isOptionsType(q.tsType) || /^opt/i.test(q.name ?? "");
  });
}

test(
  "the options table has a row for every options parameter of the public API",
  async () => {
    // from the repository's root, where the suite runs (as examples_test)
    const deno = (globalThis as unknown as { Deno: { execPath(): string } })
      .Deno;
    const r = await runProcess(
      deno.execPath(),
      ["doc", "--json", "mod.ts", "patch.ts", "testing.ts"],
    );
    assert.equal(r.code, 0, r.stderr);
    const nodes = Object.values(
      (JSON.parse(r.stdout) as { nodes: Record<string, DocNode> }).nodes,
    );
    const classes = new Map<string, DocClass>();
    const declared = new Set<string>();
    for (const node of nodes) {
      for (const s of node.symbols) {
        for (const d of s.declarations) {
          if (d.kind === "class") classes.set(s.name, d.def as DocClass);
          if (d.kind === "function" && takesOptions(d.def as DocFunction)) {
            declared.add(s.name);
          }
        }
      }
    }
    for (const [name, c] of classes) {
      if (c.isAbstract) continue; // its methods are listed per concrete class
      if ((c.constructors ?? []).some(takesOptions)) {
        declared.add(`new ${name}`);
      }
      const seen = new Set<string>();
      for (
        let k: DocClass | undefined = c;
        k !== undefined;
        k = k.extends === undefined ? undefined : classes.get(k.extends)
      ) {
        for (const m of k.methods ?? []) {
          if (seen.has(m.name) || m.accessibility === "protected") continue;
          seen.add(m.name);
          if (takesOptions(m.functionDef)) {
            declared.add(`${name}${m.isStatic ? "." : "#"}${m.name}`);
          }
        }
      }
    }
    const tabled = new Set(OPTIONS_TABLE.map((row) => row.api));
    assert.deepEqual([...tabled].sort(), [...declared].sort());
  },
  { denoOnly: true },
);
