/**
 * Builds the npm package into `npm/` (`deno task build`, `npm run build`):
 * - esbuild bundles the entry points (`mod.ts`, `patch.ts`, `patch_all.ts`)
 *   as ESM (sharing one chunk) and CJS (one core) for Node 20;
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
const ENTRIES: Record<string, string> = {
  "mod.ts": "mod",
  "patch.ts": "patch",
  "patch_all.ts": "patch_all",
};

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
await esbuild.build({
  ...common,
  entryPoints: Object.keys(ENTRIES),
  format: "esm",
  splitting: true,
  outdir: `${OUT}/esm`,
  chunkNames: "_chunks/[name]-[hash]",
});
// CJS cannot split: one core bundle, and a thin file per entry point.
await esbuild.build({
  ...common,
  stdin: {
    contents: Object.entries(ENTRIES)
      .filter(([, name]) => name !== "patch_all")
      .map(([file, name]) => `export * as ${name} from "./${file}";`)
      .join("\n"),
    resolveDir: ".",
    sourcefile: "_core.ts",
    loader: "ts",
  },
  format: "cjs",
  outfile: `${OUT}/cjs/_core.cjs`,
});
await Deno.writeTextFile(
  `${OUT}/cjs/mod.cjs`,
  '"use strict";\nmodule.exports = require("./_core.cjs").mod;\n',
);
await Deno.writeTextFile(
  `${OUT}/cjs/patch.cjs`,
  '"use strict";\nmodule.exports = require("./_core.cjs").patch;\n',
);
await Deno.writeTextFile(
  `${OUT}/cjs/patch_all.cjs`,
  '"use strict";\nrequire("./_core.cjs").patch.patchAll();\n',
);

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
const tsc = await new Deno.Command("node", {
  args: ["node_modules/typescript/bin/tsc", "-p", "tsconfig.dts.json"],
}).output();
if (!tsc.success) {
  console.error(new TextDecoder().decode(tsc.stdout));
  console.error(new TextDecoder().decode(tsc.stderr));
  throw new Error("tsc failed to write the declarations");
}
await Deno.mkdir(`${OUT}/types-cjs`, { recursive: true });
for (const e of Deno.readDirSync(`${OUT}/types`)) {
  const path = `${OUT}/types/${e.name}`;
  // JSDoc examples import the package, not the repository's files
  const text = (await Deno.readTextFile(path))
    .replace(/^( \* .*from )"\.\/mod\.ts"/gm, '$1"gevent-ts"')
    .replace(/^( \* .*from )"\.\/patch\.ts"/gm, '$1"gevent-ts/patch"')
    .replace(/^( \* import )"\.\/patch_all\.ts"/gm, '$1"gevent-ts/patch/all"');
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
const denoJson = JSON.parse(await Deno.readTextFile("deno.json"));
const entry = (name: string) => ({
  import: { types: `./types/${name}.d.ts`, default: `./esm/${name}.js` },
  require: {
    types: `./types-cjs/${name}.d.cts`,
    default: `./cjs/${name}.cjs`,
  },
});
const pkg = {
  name: "gevent-ts",
  version: denoJson.version,
  description:
    "gevent's model — a hub, greenlets, cooperative locks, timeouts, monkey patching — for Node and Deno",
  license: denoJson.license,
  type: "module",
  main: "./cjs/mod.cjs",
  module: "./esm/mod.js",
  types: "./types/mod.d.ts",
  exports: {
    ".": entry("mod"),
    "./patch": entry("patch"),
    "./patch/all": entry("patch_all"),
    "./package.json": "./package.json",
  },
  files: ["esm/", "cjs/", "types/", "types-cjs/", "README.md", "LICENSE"],
  sideEffects: ["./esm/patch_all.js", "./cjs/patch_all.cjs"],
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
    contents: 'export * from "./mod.ts"; export * from "./patch.ts";',
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
