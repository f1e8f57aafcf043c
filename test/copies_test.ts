/**
 * One hub per process, whatever is installed: the registry of copies at
 * `globalThis[Symbol.for("gevent-ts")]`. Two physical copies of the built
 * npm package (a nested `node_modules`) in one Node process join when they
 * are identical and warn once when they differ; one copy reached by both
 * `import` and `require` is one copy; two copies of the Deno sources warn.
 * The npm tests run after the build (`deno task test` builds first).
 */
import assert from "node:assert/strict";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { getHub } from "../mod.ts";
import { isDeno, runProcess, test } from "./test_adapter.ts";

const ROOT = resolve(".");
const VERSION: string = JSON.parse(readFileSync("deno.json", "utf8")).version;
const NPM = join(ROOT, "npm");

interface CopyInfo {
  version: string;
  url: string;
  joined?: boolean;
}

function registry(): { protocol: number; copies: CopyInfo[] } {
  return (globalThis as Record<symbol, never>)[Symbol.for("gevent-ts")];
}

test("the registry names this one copy, its version and where it is", () => {
  getHub();
  const r = registry();
  assert.equal(r.protocol, 1);
  // the sources on Deno; the CommonJS library under Node (ESM wrappers too)
  const url = isDeno
    ? pathToFileURL(join(ROOT, "_core/registry.ts")).href
    : join(NPM, "cjs/_library.cjs");
  assert.deepEqual(r.copies, [{ version: VERSION, url }]);
});

async function copyDir(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyDir(join(from, e.name), join(to, e.name));
    else await copyFile(join(from, e.name), join(to, e.name));
  }
}

/** A copy of the built package (what `npm install` would put) at `dir`. */
async function installCopy(dir: string, version?: string): Promise<void> {
  for (const part of ["cjs", "esm"]) {
    await copyDir(join(NPM, part), join(dir, part));
  }
  await copyFile(join(NPM, "package.json"), join(dir, "package.json"));
  if (version === undefined) return;
  // Another release: its version, so another library file and build id.
  const edit = async (file: string, from: RegExp, to: string) => {
    const path = join(dir, file);
    const text = await readFile(path, "utf8");
    assert.match(text, from, `${file} changed shape: update this test`);
    await writeFile(path, text.replace(from, to));
  };
  await edit("package.json", /"version": "[^"]+"/, `"version": "${version}"`);
  await edit(
    "cjs/_library.cjs",
    /var VERSION = "[^"]+";/,
    `var VERSION = "${version}";`,
  );
  await edit(
    "cjs/_core.cjs",
    /const BUILD = "[0-9a-f]+";/,
    `const BUILD = "${version}";`,
  );
}

/**
 * A scratch app: `node_modules/gevent-ts` (copy A) and a dependency `dep`
 * with its own nested `node_modules/gevent-ts` (copy B; of `versionB` if
 * given), as npm leaves it when it cannot dedupe.
 */
async function app(
  versionB?: string,
): Promise<{ dir: string; a: string; b: string }> {
  const dir = await mkdtemp(join(tmpdir(), "gevent-ts-copies-"));
  const a = join(dir, "node_modules/gevent-ts");
  const dep = join(dir, "node_modules/dep");
  const b = join(dep, "node_modules/gevent-ts");
  await installCopy(a);
  await installCopy(b, versionB);
  await writeFile(
    join(dep, "package.json"),
    JSON.stringify({ name: "dep", type: "module", exports: "./index.js" }),
  );
  await writeFile(
    join(dep, "index.js"),
    'export * as gevent from "gevent-ts";\nexport * as patch from "gevent-ts/patch";\n',
  );
  await writeFile(
    join(dir, "package.json"),
    JSON.stringify({ name: "app", private: true, type: "module" }),
  );
  return { dir, a, b };
}

/** Runs `fn` with a scratch {@linkcode app}, removed afterwards. */
async function withApp(
  versionB: string | undefined,
  fn: (app: { dir: string; a: string; b: string }) => Promise<void>,
): Promise<void> {
  const scratch = await app(versionB);
  try {
    await fn(scratch);
  } finally {
    await rm(scratch.dir, { recursive: true, force: true });
  }
}

async function node(dir: string, source: string) {
  await writeFile(join(dir, "main.mjs"), source);
  const r = await runProcess("node", ["main.mjs"], dir);
  assert.equal(r.code, 0, r.stderr);
  return { out: r.stdout.trimEnd().split("\n"), err: r.stderr };
}

// Copy A is the app's `gevent-ts`, copy B the one `dep` reaches.
const TWO_COPIES = `
import * as a from "gevent-ts";
import * as aPatch from "gevent-ts/patch";
import { gevent as b, patch as bPatch } from "dep";
const r = globalThis[Symbol.for("gevent-ts")];
console.log("copies:", r.copies.map((c) => c.version + " " + c.url.slice(process.cwd().length + 1) + (c.joined ? " (joined)" : "")).join(", "));
console.log("one hub, one Timeout, one GreenletExit:", a.getHub() === b.getHub(), a.Timeout === b.Timeout, a.GreenletExit === b.GreenletExit);
const timed = a.spawn(async () => {
  const t = a.Timeout.startNew(10);
  try { await b.sleep(SLEEP); return "slept"; }
  catch (e) { return e === t ? "the Timeout" : String(e); }
  finally { t.cancel(); }
});
console.log("a Timeout of copy A in a sleep of copy B:", await timed.get());
const g = a.spawn(() => b.getCurrent());
await g.join();
console.log("copy B's getCurrent() in a greenlet of copy A:", g.value === g);
aPatch.patchTimers();
console.log("patched by copy A, seen by copy B:", bPatch.isPatched("setTimeout"));
aPatch.unpatchAll();
`;

test(
  "two identical copies of the npm package join: one hub, and a Timeout of one interrupts a sleep of the other",
  () =>
    withApp(undefined, async (scratch) => {
      const { out, err } = await node(
        scratch.dir,
        TWO_COPIES.replace("SLEEP", "10_000"),
      );
      assert.deepEqual(out, [
        `copies: ${VERSION} node_modules/gevent-ts/cjs/_library.cjs, ${VERSION} node_modules/dep/node_modules/gevent-ts/cjs/_library.cjs (joined)`,
        "one hub, one Timeout, one GreenletExit: true true true",
        "a Timeout of copy A in a sleep of copy B: the Timeout",
        "copy B's getCurrent() in a greenlet of copy A: true",
        "patched by copy A, seen by copy B: true",
      ]);
      assert.equal(err, "");
    }),
  { denoOnly: true },
);

/** The warning of `_core/registry.ts`, for two copies at these places. */
function warning(first: string, second: string): string {
  return [
    "gevent-ts: a second copy of gevent-ts was loaded in this process, and it runs its own hub:",
    `  first:  ${first}`,
    `  second: ${second}`,
    "Greenlets, Timeouts, kills and patches of one copy do not reach the other: a Timeout from one copy does not interrupt a sleep in the other, getCurrent() of one does not see the other's greenlets, and the second copy may capture the first copy's patched setTimeout as native.",
    'Keep one copy: `npm ls gevent-ts` lists them; run `npm dedupe`, or pin one version ("overrides" in npm, "pnpm.overrides" in pnpm, "resolutions" in yarn); in Deno, import every entry point from one version.',
    "",
  ].join("\n");
}

test(
  "two different copies of the npm package run apart and warn once, naming both; a third copy adds no warning",
  () =>
    withApp("99.0.1-b", async (scratch) => {
      const third = join(scratch.dir, "third/node_modules/gevent-ts");
      await installCopy(third, "99.0.2-c");
      const { out, err } = await node(
        scratch.dir,
        // B's sleep (30 ms) runs to its end: A's Timeout (10 ms) cannot reach it
        TWO_COPIES.replace("SLEEP", "30") +
          'await import("./third/node_modules/gevent-ts/esm/mod.js");\n' +
          'console.log("copies:", globalThis[Symbol.for("gevent-ts")].copies.length);\n',
      );
      assert.deepEqual(out, [
        `copies: ${VERSION} node_modules/gevent-ts/cjs/_library.cjs, 99.0.1-b node_modules/dep/node_modules/gevent-ts/cjs/_library.cjs`,
        "one hub, one Timeout, one GreenletExit: false false false",
        "a Timeout of copy A in a sleep of copy B: slept",
        "copy B's getCurrent() in a greenlet of copy A: false",
        "patched by copy A, seen by copy B: false",
        "copies: 3",
      ]);
      assert.equal(
        err,
        warning(
          `${VERSION} at ${join(scratch.a, "cjs/_library.cjs")}`,
          `99.0.1-b at ${join(scratch.b, "cjs/_library.cjs")}`,
        ),
      );
    }),
  { denoOnly: true },
);

test(
  "one copy reached by import and require, through every entry point, is one copy and stays silent",
  () =>
    withApp(undefined, async (scratch) => {
      const subpaths = Object.keys(
        JSON.parse(await readFile(join(NPM, "package.json"), "utf8")).exports,
      ).filter((s) => s !== "./package.json")
        .map((s) => `gevent-ts${s.slice(1)}`);
      assert.ok(subpaths.length >= 4, subpaths.join());
      const { out, err } = await node(
        scratch.dir,
        `import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const subpaths = ${JSON.stringify(subpaths)};
for (const s of subpaths) { await import(s); require(s); }
const r = globalThis[Symbol.for("gevent-ts")];
console.log(r.copies.map((c) => c.url.slice(process.cwd().length + 1)).join(", "));
console.log((await import("gevent-ts")).Timeout === require("gevent-ts").Timeout);
(await import("gevent-ts/patch")).unpatchAll();
`,
      );
      assert.deepEqual(out, [
        "node_modules/gevent-ts/cjs/_library.cjs",
        "true",
      ]);
      assert.equal(err, "");
    }),
  { denoOnly: true },
);

test(
  "two copies of the Deno sources (another URL) warn once, naming both",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "gevent-ts-sources-"));
    try {
      for (const copy of ["a", "b"]) {
        for (const e of await readdir(ROOT, { withFileTypes: true })) {
          if (e.isFile() && e.name.endsWith(".ts")) {
            await mkdir(join(dir, copy), { recursive: true });
            await copyFile(join(ROOT, e.name), join(dir, copy, e.name));
          }
        }
        for (const sub of ["_core", "_util", "_patch"]) {
          await copyDir(join(ROOT, sub), join(dir, copy, sub));
        }
      }
      await writeFile(
        join(dir, "main.ts"),
        `import * as a from "./a/mod.ts";
import * as b from "./b/mod.ts";
console.log(a.getHub() === b.getHub(), a.Timeout === b.Timeout);
`,
      );
      const deno = (globalThis as unknown as { Deno: { execPath(): string } })
        .Deno.execPath();
      const r = await runProcess(deno, [
        "run",
        "--quiet",
        "--no-config",
        "--no-lock",
        "main.ts",
      ], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "false false\n");
      const url = (copy: string) =>
        pathToFileURL(join(dir, copy, "_core/registry.ts")).href;
      assert.equal(
        r.stderr,
        warning(`${VERSION} at ${url("a")}`, `${VERSION} at ${url("b")}`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
  { denoOnly: true },
);
