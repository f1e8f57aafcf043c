/**
 * Builds the npm package into `npm/` (`deno task build`, `npm run build`):
 * - esbuild bundles the entry points (`deno.json`'s `exports`) once, as
 *   CommonJS for Node 20 (one core, a thin file per entry); the ESM entry
 *   points are small wrappers that re-export the CommonJS build (below);
 * - tsc writes `.d.ts` (and `.d.cts` for `require`) declarations;
 * - a generated package.json (exports map, engines, sideEffects), the npm
 *   README (`README.npm.md`, written for Node) and LICENSE make `npm/` the
 *   package (`npm pack` inside it);
 * - the test suite is compiled twice, pointed at the ESM and at the CJS
 *   entry points, so that `node --test npm/test/` exercises the shipped files.
 * It prints the bundle's size, minified and gzipped.
 *
 * ## One copy per process: an ESM wrapper over the CommonJS build
 *
 * A package that ships an ESM build and a CJS build of the same code is
 * loaded twice by a process that both `import`s and `require`s it (Node's
 * "dual package hazard"): two hubs, two AsyncLocalStorage instances, two
 * `Timeout` classes, two patch registries. For gevent-ts that is not a
 * cosmetic problem: `getCurrent()` from one copy does not see a greenlet of
 * the other, a `Timeout` from one copy does not interrupt a `sleep` of the
 * other, and two copies can patch `setTimeout` on top of each other.
 *
 * Node's documentation gives two remedies. We use the first, an **ESM
 * wrapper**: the code exists once, as CommonJS, and `esm/<entry>.js` is
 * `import m from "../cjs/<entry>.cjs"; export const { …names } = m;`. Both
 * `import` and `require` then reach the same module instance, so every piece
 * of state is one: the hub, the current-greenlet storage, the classes
 * (`instanceof Timeout` holds across formats), the patch registry, the
 * monitor, the natives captured at load. The other remedy, keeping state in
 * a global registry (`globalThis[Symbol.for(…)]` with a version check), would
 * have to move some twenty pieces of module state (run queue, timers, hooks,
 * patch registry, `local` storage, …) out of the library's modules, and would
 * still leave two sets of classes, so that a `Timeout` or `GreenletExit`
 * thrown by one copy fails `instanceof` in the other.
 *
 * Two physical copies of the package (a nested `node_modules`, pnpm) are
 * the same hazard one level up. The registry there holds exports, not
 * state: `cjs/_core.cjs` is a loader (see {@linkcode loader}) through which
 * an identical second copy joins the first (same module instances, same
 * hub); a copy that differs loads its own, and its kernel warns once
 * (`_core/registry.ts`). The cost of the wrapper
 * is that bundlers get CommonJS (no tree shaking below the entry point); the
 * whole library is ~20 KiB gzipped. The wrappers name every export
 * explicitly (taken from esbuild's metafile), so named imports never rely on
 * Node's CommonJS export detection.
 *
 * @module
 */
import * as esbuild from "esbuild";
import { ENTRIES as ENTRY_LIST, META } from "./entries.ts";

const OUT = "npm";
const common: esbuild.BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  packages: "external",
  logLevel: "warning",
  legalComments: "none",
  keepNames: true,
};

/** The public entry points: source → name of the built file (no extension). */
const ENTRIES: Record<string, string> = Object.fromEntries(
  ENTRY_LIST.map((e) => [e.file, e.name]),
);

/**
 * Rewrites the tests' imports of public entry points (`./mod.ts`,
 * `./patch.ts`) to the built bundle in `dir`; refuses any other source
 * module, which would bundle a second copy of the hub's state.
 */
function publicEntriesOnly(dir: string, ext: string): esbuild.Plugin {
  return {
    name: "public-entries-only",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind === "entry-point") return undefined;
        const file = args.path.replace(/^(\.\.?\/)+/, "");
        if (file in ENTRIES) {
          return { path: `${dir}/${ENTRIES[file]}${ext}`, external: true };
        }
        if (
          args.path === "./test_adapter.ts" || args.path === "./test_waits.ts"
        ) return undefined;
        return {
          errors: [{
            text: `tests may import only public entry points (${
              Object.keys(ENTRIES).join(", ")
            }) and the adapter, not ${args.path} (from ${args.importer})`,
          }],
        };
      });
    },
  };
}

/**
 * `cjs/_core.cjs`, which every entry point requires: one hub per process,
 * whatever is installed. A copy of the package identical to one already
 * loaded (the same `_library.cjs`, by its SHA-256: a nested `node_modules`,
 * pnpm's per-peer copies) takes that copy's exports from the registry
 * (`_core/registry.ts`) — its hub, its `Timeout` and `GreenletExit`
 * classes, its patch registry — and its own library never runs. Any other
 * copy loads its own library, whose kernel warns once.
 */
async function loader(): Promise<string> {
  const library = await Deno.readFile(`${OUT}/cjs/_library.cjs`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", library));
  const build = [...hash.slice(0, 12)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `"use strict";
// gevent-ts: one hub per process, whatever is installed. A copy of this
// package identical to one already loaded (the same build) takes that copy's
// exports, and so its hub and classes, instead of loading its own library.
const BUILD = ${JSON.stringify(build)};
const KEY = Symbol.for("gevent-ts");
const registry = globalThis[KEY];
const loaded = registry?.builds?.[BUILD];
if (loaded !== undefined) {
  registry.copies?.push?.(Object.freeze({
    version: ${JSON.stringify(META.version)},
    url: __filename.replace(/_core\\.cjs$/, "_library.cjs"),
    joined: true,
  }));
  module.exports = loaded;
} else {
  module.exports = require("./_library.cjs");
  const builds = globalThis[KEY]?.builds;
  if (builds !== undefined) builds[BUILD] ??= module.exports;
}
`;
}

await Deno.remove(OUT, { recursive: true }).catch(() => {});

// The names each entry point exports, from an ESM build that is not written
// (esbuild's metafile): the ESM wrappers below list them.
const esm = await esbuild.build({
  ...common,
  entryPoints: Object.keys(ENTRIES),
  format: "esm",
  splitting: true,
  outdir: `${OUT}/esm`,
  write: false,
  metafile: true,
});
const exportsOf = new Map(
  Object.values(esm.metafile.outputs)
    .filter((o) => o.entryPoint !== undefined)
    .map((o) => [o.entryPoint!.replace(/^\.\//, ""), o.exports]),
);
// An entry that exports nothing is run for its effect (`patch/all`).
const library = ENTRY_LIST.filter((e) => exportsOf.get(e.file)!.length > 0);
const effects = ENTRY_LIST.filter((e) => exportsOf.get(e.file)!.length === 0);
// CJS cannot split: one core bundle with every exporting entry, a thin
// file per entry; an effect-only entry is bundled with the other entries it
// imports mapped to the core.
await esbuild.build({
  ...common,
  stdin: {
    contents: library
      .map((e) => `export * as ${e.name} from "./${e.file}";`)
      .join("\n"),
    resolveDir: ".",
    sourcefile: "_core.ts",
    loader: "ts",
  },
  format: "cjs",
  outfile: `${OUT}/cjs/_library.cjs`,
  // the registry (_core/registry.ts) names this copy by its file
  define: { "import.meta.url": "__filename" },
});
await Deno.writeTextFile(`${OUT}/cjs/_core.cjs`, await loader());
for (const e of library) {
  // an entry importing nothing of ours (threadpool/transfer, loaded by task
  // modules in worker threads) is built on its own: no hub in the thread
  if (
    !/^\s*(?:import|export)\b[^;]*?["']\.\.?\//m.test(
      Deno.readTextFileSync(e.file),
    )
  ) {
    await esbuild.build({
      ...common,
      entryPoints: [e.file],
      format: "cjs",
      outfile: `${OUT}/cjs/${e.name}.cjs`,
    });
    continue;
  }
  await Deno.writeTextFile(
    `${OUT}/cjs/${e.name}.cjs`,
    `"use strict";\nmodule.exports = require("./_core.cjs").${e.name};\n`,
  );
}
for (const e of effects) {
  await esbuild.build({
    ...common,
    entryPoints: [e.file],
    format: "cjs",
    outfile: `${OUT}/cjs/${e.name}.cjs`,
    plugins: [{
      name: "entries-from-core",
      setup(build) {
        build.onResolve({ filter: /^\.\// }, (args) => {
          if (args.path === "./_core.cjs") {
            return { path: args.path, external: true };
          }
          const lib = library.find((l) => `./${l.file}` === args.path);
          return lib && { path: lib.name, namespace: "core" };
        });
        build.onLoad({ filter: /.*/, namespace: "core" }, (args) => ({
          contents: `module.exports = require("./_core.cjs").${args.path};`,
          loader: "js",
        }));
      },
    }],
  });
}
// ESM: a wrapper per entry point over the CommonJS build (see the module
// comment: one copy of the library, and of its state, per process).
await Deno.mkdir(`${OUT}/esm`, { recursive: true });
const WRAPPER_NOTE =
  "// gevent-ts: the ESM face of the CommonJS build, so that `import` and\n" +
  "// `require` share one copy of the library (one hub) in a process.\n";
for (const e of ENTRY_LIST) {
  const names = exportsOf.get(e.file)!;
  if (names.includes("default")) {
    throw new Error(`${e.file}: a default export needs its own wrapper line`);
  }
  await Deno.writeTextFile(
    `${OUT}/esm/${e.name}.js`,
    WRAPPER_NOTE +
      (names.length === 0
        ? `import "../cjs/${e.name}.cjs";\n`
        : `import m from "../cjs/${e.name}.cjs";\nexport const {\n${
          names.map((n) => `  ${n},\n`).join("")
        }} = m;\n`),
  );
}

const tests = [...Deno.readDirSync("test")]
  .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
  .map((e) => `test/${e.name}`)
  .sort();
for (const [format, ext] of [["esm", ".mjs"], ["cjs", ".cjs"]] as const) {
  await esbuild.build({
    ...common,
    entryPoints: tests,
    format,
    outdir: `${OUT}/test/${format}`,
    outExtension: { ".js": ext },
    plugins: [
      publicEntriesOnly(`../../${format}`, format === "esm" ? ".js" : ".cjs"),
    ],
  });
}
// Programs the tests run in a child process (deadlock, error reporting).
const fixtures = [...Deno.readDirSync("testdata")]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .map((e) => `testdata/${e.name}`);
await esbuild.build({
  ...common,
  entryPoints: fixtures,
  format: "esm",
  outdir: `${OUT}/testdata`,
  outExtension: { ".js": ".mjs" },
  plugins: [publicEntriesOnly("../esm", ".js")],
});
// Declarations: tsc (declaration-only, isolatedDeclarations, stripInternal,
// lib ES2022 + Node 20 types: code using what Node 20 lacks fails here).
await Deno.writeTextFile(
  `${OUT}/tsconfig.dts.json`,
  JSON.stringify({
    extends: "../tsconfig.dts.json",
    files: ENTRY_LIST.map((e) => `../${e.file}`),
  }),
);
const tsc = await new Deno.Command("node", {
  args: ["node_modules/typescript/bin/tsc", "-p", `${OUT}/tsconfig.dts.json`],
}).output();
if (!tsc.success) {
  console.error(new TextDecoder().decode(tsc.stdout));
  console.error(new TextDecoder().decode(tsc.stderr));
  throw new Error("tsc failed to write the declarations");
}
// Private files and folders (`_core/`, `_util/`) are never named by a public
// declaration: check, then leave their declarations out of the package.
// `_patch/` holds the patching functions `patch.ts` re-exports, `_net/` the
// `Conn` class `socket.ts` re-exports: their declarations stay (they name
// nothing more private).
const PUBLIC_DIRS = ["", "_patch/", "_net/"];
for (const dir of PUBLIC_DIRS) {
  for (const e of [...Deno.readDirSync(`${OUT}/types/${dir}`)]) {
    const path = `${OUT}/types/${dir}${e.name}`;
    if (e.isDirectory) {
      if (!PUBLIC_DIRS.includes(`${dir}${e.name}/`)) {
        await Deno.remove(path, { recursive: true });
      }
    } else if (e.name.startsWith("_")) {
      await Deno.remove(path);
    } else if (
      /from "(\.\/|\.\.\/)_(?!patch\/|net\/)/.test(
        await Deno.readTextFile(path),
      )
    ) {
      throw new Error(
        `${dir}${e.name} names a private file; export its types publicly`,
      );
    }
  }
}
// One set of declarations, as the code is one: `types-cjs/*.d.cts` describe
// the CommonJS build; `types/<entry>.d.ts` (for `import`) re-export them, so
// that a `Greenlet` or `Timeout` is one type in `.mts` and `.cts` files alike.
for (const dir of PUBLIC_DIRS) {
  await Deno.mkdir(`${OUT}/types-cjs/${dir}`, { recursive: true });
  for (const e of [...Deno.readDirSync(`${OUT}/types/${dir}`)]) {
    if (e.isDirectory) continue;
    const path = `${OUT}/types/${dir}${e.name}`;
    // JSDoc examples import the package, not the repository's files (only
    // in comments: `patch.ts` imports `./mod.ts` for its effect).
    let text = await Deno.readTextFile(path);
    for (const entry of ENTRY_LIST) {
      text = text.replace(
        new RegExp(
          `^(\\s*\\*.*)"(?:\\.\\.?\\/)+${entry.file.replace(".", "\\.")}"`,
          "gm",
        ),
        `$1"gevent-ts${entry.subpath.slice(1)}"`,
      );
    }
    await Deno.writeTextFile(
      `${OUT}/types-cjs/${dir}${e.name.replace(/\.d\.ts$/, ".d.cts")}`,
      text.replace(/(["'])(\.\.?\/[^"']+)\.ts\1/g, "$1$2.cjs$1"),
    );
    await Deno.remove(path);
  }
}
for (const dir of PUBLIC_DIRS.filter((d) => d !== "")) {
  await Deno.remove(`${OUT}/types/${dir}`, { recursive: true });
}
for (const e of ENTRY_LIST) {
  const cts = await Deno.readTextFile(`${OUT}/types-cjs/${e.name}.d.cts`);
  const doc = /^\/\*\*[\s\S]*?\*\/\n/.exec(cts)?.[0] ?? "";
  await Deno.writeTextFile(
    `${OUT}/types/${e.name}.d.ts`,
    `${doc}export * from "../types-cjs/${e.name}.cjs";\n`,
  );
}

// The package.json of the npm package (the repo's own is a dev manifest).
const entry = (name: string) => ({
  import: { types: `./types/${name}.d.ts`, default: `./esm/${name}.js` },
  require: {
    types: `./types-cjs/${name}.d.cts`,
    default: `./cjs/${name}.cjs`,
  },
});
const pkg = {
  name: "gevent-ts",
  version: META.version,
  description:
    "gevent's model — a hub, greenlets, cooperative locks, timeouts, monkey patching — for Node and Deno",
  license: META.license,
  type: "module",
  main: "./cjs/mod.cjs",
  module: "./esm/mod.js",
  types: "./types/mod.d.ts",
  exports: {
    ...Object.fromEntries(ENTRY_LIST.map((e) => [e.subpath, entry(e.name)])),
    "./package.json": "./package.json",
  },
  // TypeScript's `moduleResolution: node10` (the default of `module:
  // commonjs`) reads no `exports`: `types` serves ".", and this map every
  // other entry point (`gevent-ts/patch` → types/patch.d.ts).
  typesVersions: {
    "*": Object.fromEntries(
      ENTRY_LIST.filter((e) => e.subpath !== ".").map((e) => [
        e.subpath.slice(2),
        [`./types/${e.name}.d.ts`],
      ]),
    ),
  },
  files: ["esm/", "cjs/", "types/", "types-cjs/", "README.md", "LICENSE"],
  sideEffects: effects.flatMap((e) => [
    `./esm/${e.name}.js`,
    `./cjs/${e.name}.cjs`,
  ]),
  engines: { node: ">=20" },
  // `serve()` on Node answers through @hono/node-server's request listener,
  // loaded by a dynamic import only then: an optional peer, so that the
  // library itself keeps no runtime dependency (the same range as the
  // version it is tested with in the dev manifest)
  peerDependencies: { "@hono/node-server": ">=2.1.8 <3" },
  peerDependenciesMeta: { "@hono/node-server": { optional: true } },
  keywords: ["gevent", "greenlet", "coroutine", "semaphore", "timeout", "deno"],
};
await Deno.writeTextFile(
  `${OUT}/package.json`,
  JSON.stringify(pkg, null, 2) + "\n",
);
// The npm package's README is written for Node (the repository's README.md,
// which JSR shows, is Deno-first).
await Deno.copyFile("README.npm.md", `${OUT}/README.md`);
await Deno.copyFile("LICENSE", `${OUT}/LICENSE`);

// Sizes: the whole library (every entry point), minified and gzipped.
const min = await esbuild.build({
  ...common,
  stdin: {
    contents: library.map((e) => `export * from "./${e.file}";`).join("\n"),
    resolveDir: ".",
    loader: "ts",
  },
  format: "esm",
  minify: true,
  keepNames: false,
  write: false,
});
const minified = min.outputFiles[0].contents;
const { gzipSync } = await import("node:zlib");
const gz = gzipSync(minified, { level: 9 }).length;
let shippedBytes = 0;
for (const dir of [`${OUT}/cjs`, `${OUT}/esm`]) {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) shippedBytes += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
}
await esbuild.stop();
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `built ${OUT}/ (${Object.values(ENTRIES).join(", ")}; CJS + ESM wrappers ${
    kb(shippedBytes)
  } as shipped; all entries minified ${kb(minified.length)}, gzip ${
    kb(gz)
  }) and ${tests.length} test files × 2`,
);
