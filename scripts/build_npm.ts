/**
 * Builds the npm package into `npm/` (`deno task build`, `npm run build`):
 * - esbuild bundles the entry points (`deno.json`'s `exports`) as ESM
 *   (sharing one chunk) and CJS (one core, a thin file per entry) for Node 20;
 * - tsc writes `.d.ts` (and `.d.cts` for `require`) declarations;
 * - a generated package.json (exports map, engines, sideEffects), README and
 *   LICENSE make `npm/` the package (`npm pack` inside it);
 * - the test suite is compiled twice, pointed at the built ESM and at the
 *   built CJS, so that `node --test npm/test/` exercises the shipped files.
 * It prints the bundle's size, minified and gzipped.
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

await Deno.remove(OUT, { recursive: true }).catch(() => {});

// ESM: one module per entry point, sharing one chunk (one hub, one state).
const esm = await esbuild.build({
  ...common,
  entryPoints: Object.keys(ENTRIES),
  format: "esm",
  splitting: true,
  outdir: `${OUT}/esm`,
  chunkNames: "_chunks/[name]-[hash]",
  metafile: true,
});
// An entry that exports nothing is run for its effect (`patch/all`).
const exported = new Set(
  Object.values(esm.metafile.outputs)
    .filter((o) => o.entryPoint !== undefined && o.exports.length > 0)
    .map((o) => o.entryPoint!.replace(/^\.\//, "")),
);
const library = ENTRY_LIST.filter((e) => exported.has(e.file));
const effects = ENTRY_LIST.filter((e) => !exported.has(e.file));
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
  outfile: `${OUT}/cjs/_core.cjs`,
});
for (const e of library) {
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

const tests = [...Deno.readDirSync(".")]
  .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
  .map((e) => e.name)
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
// Private files (`_*.ts`) are never named by a public declaration: check,
// then leave their declarations out of the package.
for (const e of [...Deno.readDirSync(`${OUT}/types`)]) {
  const path = `${OUT}/types/${e.name}`;
  if (e.name.startsWith("_")) {
    await Deno.remove(path);
  } else if (/from "\.\/_/.test(await Deno.readTextFile(path))) {
    throw new Error(
      `${e.name} names a private file; export its types publicly`,
    );
  }
}
await Deno.mkdir(`${OUT}/types-cjs`, { recursive: true });
for (const e of Deno.readDirSync(`${OUT}/types`)) {
  const path = `${OUT}/types/${e.name}`;
  // JSDoc examples import the package, not the repository's files
  let text = await Deno.readTextFile(path);
  for (const entry of ENTRY_LIST) {
    text = text.replaceAll(
      `"./${entry.file}"`,
      `"gevent-ts${entry.subpath.slice(1)}"`,
    );
  }
  const spec = (ext: string) => (_m: string, q: string, p: string) =>
    `${q}${p}${ext}${q}`;
  await Deno.writeTextFile(
    path,
    text.replace(/(["'])(\.\.?\/[^"']+)\.ts\1/g, spec(".js")),
  );
  await Deno.writeTextFile(
    `${OUT}/types-cjs/${e.name.replace(/\.d\.ts$/, ".d.cts")}`,
    text.replace(/(["'])(\.\.?\/[^"']+)\.ts\1/g, spec(".cjs")),
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
  files: ["esm/", "cjs/", "types/", "types-cjs/", "README.md", "LICENSE"],
  sideEffects: effects.flatMap((e) => [
    `./esm/${e.name}.js`,
    `./cjs/${e.name}.cjs`,
  ]),
  engines: { node: ">=20" },
  keywords: ["gevent", "greenlet", "coroutine", "semaphore", "timeout", "deno"],
};
await Deno.writeTextFile(
  `${OUT}/package.json`,
  JSON.stringify(pkg, null, 2) + "\n",
);
await Deno.copyFile("README.md", `${OUT}/README.md`);
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
let esmBytes = 0;
for (const dir of [`${OUT}/esm`, `${OUT}/esm/_chunks`]) {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) esmBytes += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
}
await esbuild.stop();
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `built ${OUT}/ (${Object.values(ENTRIES).join(", ")}; ESM ${
    kb(esmBytes)
  } as shipped; all entries minified ${kb(minified.length)}, gzip ${
    kb(gz)
  }) and ${tests.length} test files × 2`,
);
