/**
 * gevent-ts on Node, from the built npm bundle: the driver bundles this file
 * (with the bench helpers, not the library) by esbuild and runs
 * `node impl_gevent_ts_node.mjs W1 '{…}' /abs/path/npm/esm/mod.js`; the
 * library is imported at run time from the path given, so the process runs
 * the shipped `npm/` files and never the sources.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { args, main } from "./harness.ts";
import { type Lib, workloads } from "./workloads_gevent_ts.ts";

const path = args()[2];
if (path === undefined || !/npm\/(esm|cjs)\/mod\.c?js$/.test(path)) {
  throw new Error(`expected the path of npm/esm/mod.js, got ${path}`);
}
const lib: Lib = await import(pathToFileURL(path).href);
await main("gevent-ts-node", workloads(lib));
