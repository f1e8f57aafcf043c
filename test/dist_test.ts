/**
 * The three ways gevent-ts is used, proven here: the npm tarball installed in
 * a scratch project (import, require, both in one process sharing one copy,
 * type-check of Node and Deno consumers against the shipped declarations,
 * its Node README), and a `deno run` of a URL served over HTTP. Runs under Deno
 * after the build (`deno task test` builds first).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import process from "node:process";
import { extname, join, resolve } from "node:path";
import { readFile } from "node:fs/promises";
import { runProcess, test } from "./test_adapter.ts";

const ROOT = resolve(".");

async function sh(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const r = await runProcess(cmd, args, cwd);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

const SWITCH = [0, 1, 2].flatMap((i) => [`f1 ${i}`, `f2 ${i}`]);

const ESM_PROGRAM = `
import { joinAll, sleep, spawn } from "gevent-ts";
import { isPatched } from "gevent-ts/patch";
const f = async (name) => { for (let i = 0; i < 3; i++) { console.log(name, i); await sleep(0); } };
await joinAll([spawn(f, "f1"), spawn(f, "f2")]);
const { withVirtualTime } = await import("gevent-ts/testing");
console.log("virtual:", await withVirtualTime(async (clock) => {
  await sleep(3_600_000); // an hour: the testing entry shares the hub state
  return clock.now;
}));
const { connect, listen } = await import("gevent-ts/socket");
const listener = await listen({ hostname: "127.0.0.1", port: 0 });
const client = await connect(listener.addr);
const server = await listener.accept();
await client.write("echo\\n");
console.log("socket:", await server.readLine());
await Promise.all([client.close(), server.close()]);
await listener.close();
await import("gevent-ts/patch/all");
console.log("patched fetch:", isPatched("fetch"));
`;

const CJS_PROGRAM = `
const { joinAll, sleep, spawn } = require("gevent-ts");
const { isPatched } = require("gevent-ts/patch");
const f = async (name) => { for (let i = 0; i < 3; i++) { console.log(name, i); await sleep(0); } };
const { withVirtualTime } = require("gevent-ts/testing");
joinAll([spawn(f, "f1"), spawn(f, "f2")]).then(async () => {
  console.log("virtual:", await withVirtualTime(async (clock) => {
    await sleep(3_600_000); // an hour: the testing entry shares the hub state
    return clock.now;
  }));
  const { connect, listen } = require("gevent-ts/socket");
  const listener = await listen({ hostname: "127.0.0.1", port: 0 });
  const client = await connect(listener.addr);
  const server = await listener.accept();
  await client.write("echo\\n");
  console.log("socket:", await server.readLine());
  await Promise.all([client.close(), server.close()]);
  await listener.close();
  require("gevent-ts/patch/all");
  console.log("patched fetch:", isPatched("fetch"));
});
`;

// One process, both module systems (Node's dual package hazard): a copy per
// format would mean two hubs, two current-greenlet storages, two patch
// registries.
const DUAL_ESM_PROGRAM = `
import { createRequire } from "node:module";
import * as esm from "gevent-ts";
import * as esmPatch from "gevent-ts/patch";
const require = createRequire(import.meta.url);
const cjs = require("gevent-ts");
const cjsPatch = require("gevent-ts/patch");
console.log("one hub:", esm.getHub() === cjs.getHub());
console.log("one Greenlet, one Timeout:", esm.Greenlet === cjs.Greenlet && esm.Timeout === cjs.Timeout);
const g = esm.spawn(() => cjs.getCurrent());
await g.join();
console.log("CJS getCurrent() inside an ESM greenlet:", g.value === g);
const sleeper = esm.spawn(() => cjs.sleep(30_000));
await esm.sleep(0);
await sleeper.kill();
console.log("an ESM kill stops a CJS sleep:", sleeper.value instanceof cjs.GreenletExit);
const timed = esm.spawn(async () => {
  const t = esm.Timeout.startNew(20);
  try { await cjs.sleep(30_000); return "slept"; }
  catch (e) { return e === t ? "the Timeout" : String(e); }
  finally { t.cancel(); }
});
console.log("an ESM Timeout interrupts a CJS sleep:", await timed.get());
const original = globalThis.setTimeout;
await import("gevent-ts/patch/all");
require("gevent-ts/patch/all");
console.log("patched once, seen by both:", cjsPatch.isPatched("setTimeout"), cjsPatch.getOriginal("setTimeout") === original);
cjsPatch.unpatchAll();
console.log("unpatched by CJS, seen by ESM:", esmPatch.isPatched("setTimeout"), globalThis.setTimeout === original);
`;

const DUAL_ESM_OUT = [
  "one hub: true",
  "one Greenlet, one Timeout: true",
  "CJS getCurrent() inside an ESM greenlet: true",
  "an ESM kill stops a CJS sleep: true",
  "an ESM Timeout interrupts a CJS sleep: the Timeout",
  "patched once, seen by both: true true",
  "unpatched by CJS, seen by ESM: false true",
];

const DUAL_CJS_PROGRAM = `
const cjs = require("gevent-ts");
const cjsPatch = require("gevent-ts/patch");
cjsPatch.patchTimers();
import("gevent-ts").then(async (esm) => {
  const esmPatch = await import("gevent-ts/patch");
  console.log("one hub:", esm.getHub() === cjs.getHub());
  const g = cjs.spawn(() => esm.getCurrent());
  await g.join();
  console.log("ESM getCurrent() inside a CJS greenlet:", g.value === g);
  console.log("patched by CJS, seen by ESM:", esmPatch.isPatched("setTimeout"));
  esmPatch.unpatchAll();
  console.log("unpatched by ESM, seen by CJS:", cjsPatch.isPatched("setTimeout"));
});
`;

const DUAL_CJS_OUT = [
  "one hub: true",
  "ESM getCurrent() inside a CJS greenlet: true",
  "patched by CJS, seen by ESM: true",
  "unpatched by ESM, seen by CJS: false",
];

// Consumers of the declarations: no `esnext.disposable` in `lib` (Node) —
// `using` and `Disposable` come from @types/node 20 — and Node 20's
// `try/finally` form beside `using`.
const MTS_GOOD = `
import { type Greenlet, joinAll, Pool, Semaphore, spawn, Timeout } from "gevent-ts";
import { patchAll, unpatchAll } from "gevent-ts/patch";
import { nameOf } from "./names.cjs";
patchAll({ sync: "off" });
const g: Greenlet<number> = spawn(async (x: number) => x * 2, 21);
const value: number = await g.result({ timeout: 100 });
const sem = new Semaphore(1);
const permit: Disposable = await sem.hold();
try {
  const t = Timeout.startNew(50);
  try {
    await pool();
  } finally {
    t[Symbol.dispose]();
  }
} finally {
  permit[Symbol.dispose]();
}
async function pool(): Promise<number[]> {
  await using p = new Pool(2);
  using _t = Timeout.startNew(50);
  return await p.map(async (n: number) => n + 1, [1, 2]);
}
const done: Greenlet[] = await joinAll([g]);
console.log(value, done.length, nameOf(g));
unpatchAll();
`;

// A CommonJS module of the same project: its Greenlet is the .mts file's.
const CTS_GOOD = `
import gevent = require("gevent-ts");
import patch = require("gevent-ts/patch");
export function nameOf(g: gevent.Greenlet<unknown>): string {
  return g.name;
}
const g = gevent.spawn((x: number) => x + 1, 1);
const sem = new gevent.Semaphore(1);
g.join().then(async () => {
  const permit = await sem.hold();
  try {
    console.log(g.value, patch.isPatched("fetch"));
  } finally {
    permit[Symbol.dispose]();
  }
});
`;

const TS_BAD = `
import { spawn } from "gevent-ts";
const wrong: string = await spawn(async () => 1).result();
console.log(wrong);
`;

const DENO_GOOD = `
import { type Greenlet, joinAll, Pool, Semaphore, spawn, Timeout } from "gevent-ts";
import { isPatched } from "gevent-ts/patch";
const g: Greenlet<number> = spawn(async (x: number) => x * 2, 21);
const value: number = await g.result({ timeout: 100 });
const sem = new Semaphore(1);
{
  using _permit = await sem.hold();
  using _t = Timeout.startNew(50);
  await using pool = new Pool(2);
  console.log(await pool.map(async (n: number) => n + 1, [1, 2]));
}
const done: Greenlet[] = await joinAll([g]);
console.log(value, done.length, isPatched("fetch"));
`;

let packing: Promise<{ tmp: string; app: string }> | undefined;

/**
 * `npm pack` of the built package, installed (offline) in a scratch project
 * `app`; made once for the tests below, removed when the process exits.
 */
function packed(): Promise<{ tmp: string; app: string }> {
  packing ??= (async () => {
    const tmp = await mkdtemp(join(tmpdir(), "gevent-ts-pack-"));
    process.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
    const pack = await sh("npm", ["pack", "--pack-destination", tmp], "npm");
    assert.equal(pack.code, 0, pack.err);
    const tarball = (await readdir(tmp)).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote no tarball");
    const app = join(tmp, "app");
    await mkdir(app);
    await writeFile(
      join(app, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }),
    );
    const install = await sh(
      "npm",
      ["install", "--offline", "--no-audit", "--no-fund", join(tmp, tarball)],
      app,
    );
    assert.equal(install.code, 0, install.err);
    return { tmp, app };
  })();
  return packing;
}

async function runNode(app: string, file: string, source: string) {
  await writeFile(join(app, file), source);
  const run = await sh("node", [file], app);
  assert.equal(run.code, 0, run.err);
  return run.out.trimEnd().split("\n");
}

test("the packed npm tarball works by import and by require", async () => {
  const { app } = await packed();
  const expected = [
    ...SWITCH,
    "virtual: 3600000",
    "socket: echo",
    "patched fetch: true",
  ];
  assert.deepEqual(await runNode(app, "esm.mjs", ESM_PROGRAM), expected);
  assert.deepEqual(await runNode(app, "cjs.cjs", CJS_PROGRAM), expected);
}, { denoOnly: true });

test(
  "import and require in one process share one copy: hub, current greenlet, kills, patches",
  async () => {
    const { app } = await packed();
    assert.deepEqual(
      await runNode(app, "dual.mjs", DUAL_ESM_PROGRAM),
      DUAL_ESM_OUT,
    );
    assert.deepEqual(
      await runNode(app, "dual.cjs", DUAL_CJS_PROGRAM),
      DUAL_CJS_OUT,
    );
  },
  { denoOnly: true },
);

test(
  "the declarations type-check: Node (lib es2022, @types/node 20; .mts and .cts) and Deno",
  async () => {
    const { app } = await packed();
    await writeFile(join(app, "good.mts"), MTS_GOOD);
    await writeFile(join(app, "names.cts"), CTS_GOOD);
    await writeFile(join(app, "bad.mts"), TS_BAD);
    const tsconfig = (files: string[]) =>
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["es2022"],
          strict: true,
          noEmit: true,
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules/@types")],
        },
        files,
      });
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    await writeFile(
      join(app, "tsconfig.json"),
      tsconfig(["good.mts", "names.cts"]),
    );
    const good = await sh("node", [tsc, "-p", "tsconfig.json"], app);
    assert.equal(good.code, 0, good.out + good.err);
    await writeFile(join(app, "tsconfig.bad.json"), tsconfig(["bad.mts"]));
    const bad = await sh("node", [tsc, "-p", "tsconfig.bad.json"], app);
    assert.notEqual(bad.code, 0, "a wrong type must not check");
    assert.match(
      bad.out,
      /bad\.mts\(3,7\): error TS2322: Type 'number' is not assignable to type 'string'/,
    );

    // A Deno project using the npm package (package.json, node_modules).
    const deno = (globalThis as unknown as { Deno: { execPath(): string } })
      .Deno.execPath();
    await writeFile(join(app, "deno_main.ts"), DENO_GOOD);
    await writeFile(join(app, "deno_bad.ts"), TS_BAD);
    const check = await sh(deno, ["check", "--quiet", "deno_main.ts"], app);
    assert.equal(check.code, 0, check.out + check.err);
    const run = await sh(deno, ["run", "--quiet", "deno_main.ts"], app);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(run.out.trimEnd().split("\n"), ["[ 2, 3 ]", "42 1 false"]);
    const denoBad = await sh(deno, ["check", "--quiet", "deno_bad.ts"], app);
    assert.notEqual(denoBad.code, 0, "a wrong type must not check in Deno");
    assert.match(
      denoBad.err,
      /TS2322 \[ERROR\]: Type 'number' is not assignable to type 'string'/,
    );
  },
  { denoOnly: true },
);

/**
 * A consumer of every entry point in the installed package.json's `exports`:
 * `import * as` (and, if `require`, `import = require`) of each, with an
 * export that does not exist, which must be an error: declarations that
 * resolve to nothing or to `any` fail the check.
 */
function entryConsumer(subpaths: string[], require: boolean): string {
  return subpaths.map((s, i) => {
    const spec = JSON.stringify(`gevent-ts${s.slice(1)}`);
    const lines = [
      `import * as e${i} from ${spec};`,
      `// @ts-expect-error no such export (${s}, import)`,
      `e${i}.__noSuchExport;`,
    ];
    if (require) {
      lines.push(
        `import r${i} = require(${spec});`,
        `// @ts-expect-error no such export (${s}, require)`,
        `r${i}.__noSuchExport;`,
      );
    }
    return lines.join("\n");
  }).join("\n") + "\nexport {};\n";
}

test(
  "every entry point's declarations resolve by import and require under moduleResolution node10, node16 and bundler",
  async () => {
    const { app } = await packed();
    const pkg = JSON.parse(
      await readFile(join(app, "node_modules/gevent-ts/package.json"), "utf8"),
    );
    const subpaths = Object.keys(pkg.exports).filter((s) =>
      s !== "./package.json"
    );
    const denoJson = JSON.parse(
      await readFile(join(ROOT, "deno.json"), "utf8"),
    );
    assert.deepEqual(subpaths, Object.keys(denoJson.exports));
    const dir = join(app, "resolution");
    await mkdir(dir, { recursive: true });
    const both = entryConsumer(subpaths, true);
    await writeFile(join(dir, "node10.ts"), both);
    await writeFile(join(dir, "bundler.ts"), both);
    await writeFile(join(dir, "node16.mts"), entryConsumer(subpaths, false));
    await writeFile(join(dir, "node16.cts"), both);
    const base = {
      target: "ES2022",
      lib: ["es2022"],
      strict: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules/@types")],
    };
    const configs: Record<string, [object, string[]]> = {
      // node10 is deprecated in TypeScript 6 (and gone in 7), still common
      node10: [{
        module: "CommonJS",
        moduleResolution: "node10",
        ignoreDeprecations: "6.0",
      }, ["node10.ts"]],
      node16: [{ module: "Node16", moduleResolution: "Node16" }, [
        "node16.mts",
        "node16.cts",
      ]],
      bundler: [{ module: "Preserve", moduleResolution: "Bundler" }, [
        "bundler.ts",
      ]],
    };
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const failed: string[] = [];
    for (const [name, [options, files]] of Object.entries(configs)) {
      await writeFile(
        join(dir, `tsconfig.${name}.json`),
        JSON.stringify({
          compilerOptions: { ...base, ...options },
          files,
        }),
      );
      const r = await sh("node", [tsc, "-p", `tsconfig.${name}.json`], dir);
      if (r.code !== 0) failed.push(`${name}:\n${r.out}${r.err}`);
    }
    assert.deepEqual(failed, []);
  },
  { denoOnly: true },
);

test("the npm tarball's README is the Node one (README.npm.md)", async () => {
  const { app } = await packed();
  const shipped = await readFile(
    join(app, "node_modules/gevent-ts/README.md"),
    "utf8",
  );
  assert.equal(shipped, await readFile(join(ROOT, "README.npm.md"), "utf8"));
  assert.match(shipped, /import \{ spawn \} from "gevent-ts";/);
  assert.match(shipped, /require\("gevent-ts"\)/);
  assert.match(shipped, /`npm install gevent-ts` does not work yet/);
  assert.doesNotMatch(shipped, /deno task|deno run/);
  // Its programs (a js block opening with `// <name>.mjs`, then a text
  // block) print what it says they print.
  const programs = [
    ...shipped.matchAll(
      /```js\n\/\/ (\S+\.[mc]js)\n([\s\S]*?)```\n\n```text\n([\s\S]*?)```/g,
    ),
  ];
  assert.deepEqual(programs.map((p) => p[1]), ["switch.mjs", "switch.cjs"]);
  for (const [, file, source, output] of programs) {
    assert.deepEqual(
      await runNode(app, file, source),
      output.trimEnd().split("\n"),
    );
  }
}, { denoOnly: true });

const TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "text/javascript",
  ".json": "application/json",
};

test("deno run of a URL: examples/01_switch.ts served over HTTP", async () => {
  const server = createServer(async (req, res) => {
    const path = resolve(ROOT, "." + decodeURIComponent(req.url ?? "/"));
    const type = TYPES[extname(path)];
    if (!path.startsWith(ROOT + "/") || type === undefined) {
      res.writeHead(404, { connection: "close" }).end();
      return;
    }
    try {
      const body = await readFile(path);
      res.writeHead(200, { "content-type": type, connection: "close" }).end(
        body,
      );
    } catch {
      res.writeHead(404, { connection: "close" }).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } })
      .Deno.execPath();
    const tmp = await mkdtemp(join(tmpdir(), "gevent-ts-url-"));
    try {
      // from an empty folder, with no config: as a user would
      const run = await sh(deno, [
        "run",
        "--quiet",
        "--no-config",
        "--no-lock",
        "--reload",
        `--allow-import=${host}`,
        `http://${host}/examples/01_switch.ts`,
      ], tmp);
      assert.equal(run.code, 0, run.err);
      assert.deepEqual(
        run.out.trimEnd().split("\n"),
        [0, 1, 2, 3, 4].flatMap((i) => [
          `function:@@@f1 | NUM: @@@ ${i}`,
          `function:@@@f2 | NUM: @@@ ${i}`,
        ]),
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}, { denoOnly: true });
