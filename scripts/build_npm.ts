/**
 * Builds the npm bundle into `npm/` (`deno task build`, `npm run build`):
 * esbuild bundles `mod.ts` as ESM and CJS for Node 20, and compiles the
 * test suite twice, pointed at the built ESM and at the built CJS, so that
 * `node --test npm/test/` exercises the shipped artifacts.
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
        if (args.path === "./test_adapter.ts") return undefined;
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
// The ESM bundle needs Node to treat .js as a module.
await Deno.writeTextFile(
  `${OUT}/package.json`,
  JSON.stringify({ type: "module", private: true }, null, 2) + "\n",
);
await esbuild.stop();
console.log(
  `built ${OUT}/esm and ${OUT}/cjs (${
    Object.values(ENTRIES).join(", ")
  }) and ${tests.length} test files × 2`,
);
