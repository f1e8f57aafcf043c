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

/** Rewrites the tests' `./mod.ts` to the built bundle; refuses other sources. */
function publicEntryOnly(bundle: string): esbuild.Plugin {
  return {
    name: "public-entry-only",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind === "entry-point") return undefined;
        if (args.path === "./mod.ts" || args.path === "../mod.ts") {
          // tests sit beside mod.ts; fixtures in testdata/ one level down
          return { path: bundle, external: true };
        }
        if (args.path === "./test_adapter.ts") return undefined;
        return {
          errors: [{
            text:
              `tests may import only ./mod.ts (and the adapter), not ${args.path} (from ${args.importer})`,
          }],
        };
      });
    },
  };
}

await Deno.remove(OUT, { recursive: true }).catch(() => {});

await esbuild.build({
  ...common,
  entryPoints: ["mod.ts"],
  format: "esm",
  outfile: `${OUT}/esm/mod.js`,
});
await esbuild.build({
  ...common,
  entryPoints: ["mod.ts"],
  format: "cjs",
  outfile: `${OUT}/cjs/mod.cjs`,
});

const tests = [...Deno.readDirSync(".")]
  .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
  .map((e) => e.name)
  .sort();
for (
  const [format, ext, bundle] of [
    ["esm", ".mjs", "../../esm/mod.js"],
    ["cjs", ".cjs", "../../cjs/mod.cjs"],
  ] as const
) {
  await esbuild.build({
    ...common,
    entryPoints: tests,
    format,
    outdir: `${OUT}/test/${format}`,
    outExtension: { ".js": ext },
    plugins: [publicEntryOnly(bundle)],
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
  plugins: [publicEntryOnly("../esm/mod.js")],
});
// The ESM bundle needs Node to treat .js as a module.
await Deno.writeTextFile(
  `${OUT}/package.json`,
  JSON.stringify({ type: "module", private: true }, null, 2) + "\n",
);
await esbuild.stop();
console.log(
  `built ${OUT}/esm/mod.js, ${OUT}/cjs/mod.cjs and ${tests.length} test files × 2`,
);
