/**
 * The layout's rules, read from the sources: the kernel (`_core/`) and the
 * helpers (`_util/`) are reached only through their faces (`mod.ts`), and
 * the layers import only downwards — `_util/` from nothing of ours,
 * `_core/` from `_util/`'s face alone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "./test_adapter.ts";

const SKIP = new Set(["node_modules", "npm", ".git", "coverage", "reports"]);

/** Every `.ts` file of the repository, relative to its root (the cwd). */
function sources(dir = "."): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith(".")) continue;
    const path = dir === "." ? name : join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The relative modules `file` imports or re-exports, as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  // statements only: `import … from "./x.ts"`, `export … from`, `import "./x.ts"`
  const re = /^\s*(?:import|export)\b[^;]*?["'](\.{1,2}\/[^"']+\.ts)["']/gm;
  for (const m of text.matchAll(re)) {
    out.push(normalize(join(dirname(file), m[1])).replaceAll("\\", "/"));
  }
  return out;
}

/** Which layer a repository path is in. */
function layer(path: string): string {
  const top = path.split("/")[0];
  return top === "_core" || top === "_util" || top === "_patch" ||
      top === "_net"
    ? top
    : "";
}

test(
  "layout: _core/ and _util/ are reached only through their faces, and layers import downwards",
  () => {
    const problems: string[] = [];
    const files = sources().map((f) => f.replaceAll("\\", "/"));
    assert.ok(files.includes("_core/mod.ts") && files.includes("_util/mod.ts"));
    for (const file of files) {
      const from = layer(file);
      for (const target of importsOf(file)) {
        const to = layer(target);
        for (const folder of ["_core", "_util"]) {
          if (
            to === folder && from !== folder && target !== `${folder}/mod.ts`
          ) {
            problems.push(`${file} imports ${target}: use ${folder}/mod.ts`);
          }
        }
        if (from === "_util" && to !== "_util") {
          problems.push(`${file} (a helper) imports ${target}`);
        }
        if (from === "_core" && to !== "_core" && target !== "_util/mod.ts") {
          problems.push(`${file} (the kernel) imports ${target}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    // the faces name only files of their own folder
    for (const face of ["_core/mod.ts", "_util/mod.ts"]) {
      const own = face.split("/")[0];
      for (const target of importsOf(face)) {
        assert.equal(layer(target), own, `${face} re-exports ${target}`);
      }
    }
    // and a test imports the library through its public entry points only
    for (const file of files.filter((f) => f.startsWith("test/"))) {
      for (const target of importsOf(file)) {
        assert.equal(
          layer(target),
          "",
          `${relative(".", file)} imports ${target}`,
        );
      }
    }
  },
  { denoOnly: true },
);

/** Lines of code in `text`: comments and blank lines not counted. */
function codeLines(text: string): number {
  const stripped = text.replace(/\/\*[\s\S]*?\*\//g, "");
  return stripped.split("\n").filter((line) => {
    const t = line.trim();
    return t !== "" && !t.startsWith("//");
  }).length;
}

test("layout: no library module holds more than 500 lines of code", () => {
  const big = sources()
    .map((f) => f.replaceAll("\\", "/"))
    .filter((f) => (layer(f) !== "" || !f.includes("/")) && f.endsWith(".ts"))
    .map((f) => [f, codeLines(readFileSync(f, "utf8"))] as const)
    .filter(([, n]) => n > 500)
    .map(([f, n]) => `${f}: ${n}`);
  assert.deepEqual(big, []);
}, { denoOnly: true });
