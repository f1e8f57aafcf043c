/**
 * The three ways gevent-ts is used, proven here: the npm tarball installed in
 * a scratch project (import, require, type-check against the shipped
 * declarations), and a `deno run` of a URL served over HTTP. Runs under Deno
 * after the build (`deno task test` builds first).
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
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
import { getHub, joinAll, sleep, spawn } from "gevent-ts";
import { isPatched } from "gevent-ts/patch";
import { withVirtualTime } from "gevent-ts/testing";
const f = async (name) => { for (let i = 0; i < 3; i++) { console.log(name, i); await sleep(0); } };
await joinAll([spawn(f, "f1"), spawn(f, "f2")]);
console.log("virtual:", await withVirtualTime(async () => { await sleep(3_600_000); return getHub().now(); }));
await import("gevent-ts/patch/all");
console.log("patched fetch:", isPatched("fetch"));
`;

const CJS_PROGRAM = `
const { getHub, joinAll, sleep, spawn } = require("gevent-ts");
const { isPatched } = require("gevent-ts/patch");
const { withVirtualTime } = require("gevent-ts/testing");
const f = async (name) => { for (let i = 0; i < 3; i++) { console.log(name, i); await sleep(0); } };
joinAll([spawn(f, "f1"), spawn(f, "f2")]).then(async () => {
  console.log("virtual:", await withVirtualTime(async () => { await sleep(3_600_000); return getHub().now(); }));
  require("gevent-ts/patch/all");
  console.log("patched fetch:", isPatched("fetch"));
});
`;

const TS_GOOD = `
import { type Greenlet, joinAll, Semaphore, spawn, Timeout } from "gevent-ts";
import { patchAll, unpatchAll } from "gevent-ts/patch";
import { type VirtualClock, withVirtualTime } from "gevent-ts/testing";
const t: number = await withVirtualTime((clock: VirtualClock) => clock.now, { auto: true });
patchAll({ sync: "off" });
const g: Greenlet<number> = spawn(async (x: number) => x * 2, 21);
const value: number = await g.result({ timeout: 100 });
const sem = new Semaphore(1);
{
  using _permit = await sem.hold();
  using _t = Timeout.startNew(50);
}
const done: Greenlet[] = await joinAll([g]);
console.log(value, done.length, t);
unpatchAll();
`;

const TS_BAD = `
import { spawn } from "gevent-ts";
const wrong: string = await spawn(async () => 1).result();
console.log(wrong);
`;

const CTS_GOOD = `
import gevent = require("gevent-ts");
const g = gevent.spawn((x: number) => x + 1, 1);
g.join().then(() => console.log(g.value));
`;

test(
  "the packed npm tarball works by import, require and type-check",
  async () => {
    const tmp = await mkdtemp(join(tmpdir(), "gevent-ts-pack-"));
    try {
      const pack = await sh("npm", ["pack", "--pack-destination", tmp], "npm");
      assert.equal(pack.code, 0, pack.err);
      const tarball = (await readdir(tmp)).find((f) => f.endsWith(".tgz"));
      assert.ok(tarball, "npm pack wrote no tarball");
      const app = join(tmp, "app");
      await sh("mkdir", ["-p", app], tmp);
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

      await writeFile(join(app, "esm.mjs"), ESM_PROGRAM);
      await writeFile(join(app, "cjs.cjs"), CJS_PROGRAM);
      for (const file of ["esm.mjs", "cjs.cjs"]) {
        const run = await sh("node", [file], app);
        assert.equal(run.code, 0, run.err);
        assert.deepEqual(run.out.trimEnd().split("\n"), [
          ...SWITCH,
          "virtual: 3600000", // one hub state across the entry points
          "patched fetch: true",
        ]);
      }

      await writeFile(join(app, "good.ts"), TS_GOOD);
      await writeFile(join(app, "good.cts"), CTS_GOOD);
      await writeFile(join(app, "bad.ts"), TS_BAD);
      const tsconfig = (files: string[]) =>
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            lib: ["ES2022", "ESNext.Disposable"],
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
        tsconfig(["good.ts", "good.cts"]),
      );
      const good = await sh("node", [tsc, "-p", "tsconfig.json"], app);
      assert.equal(good.code, 0, good.out + good.err);
      await writeFile(join(app, "tsconfig.bad.json"), tsconfig(["bad.ts"]));
      const bad = await sh("node", [tsc, "-p", "tsconfig.bad.json"], app);
      assert.notEqual(bad.code, 0, "a wrong type must not check");
      assert.match(
        bad.out,
        /bad\.ts\(3,7\): error TS2322: Type 'number' is not assignable to type 'string'/,
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
  { denoOnly: true },
);

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
