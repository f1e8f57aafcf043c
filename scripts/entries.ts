/**
 * The public entry points, read from the one place they are written:
 * `deno.json`'s `exports`. The npm build, the declaration build and the
 * JSDoc lint all take them from here.
 *
 * @module
 */

/** One public entry point. */
export interface Entry {
  /** Subpath in the exports maps: `"."`, `"./patch"`, `"./patch/all"`. */
  subpath: string;
  /** Source file: `"mod.ts"`. */
  file: string;
  /** Built file's base name: `"mod"`. */
  name: string;
}

const denoJson = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
);

/** Every entry point, in `deno.json` order. */
export const ENTRIES: readonly Entry[] = Object.entries(
  denoJson.exports as Record<string, string>,
).map(([subpath, path]) => {
  const file = path.replace(/^\.\//, "");
  return { subpath, file, name: file.replace(/\.ts$/, "") };
});

/** The package's version and license, from `deno.json`. */
export const META: { version: string; license: string } = {
  version: denoJson.version,
  license: denoJson.license,
};
