/**
 * Importing this module patches everything (`patchAll()`): timers, `fetch`,
 * Deno's async APIs, and synchronous blocking calls in `"warn"` mode. Make it
 * the first import of your program, before other modules capture the
 * globals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "./patch_all.ts";
 * import { isPatched, unpatchAll } from "./patch.ts";
 * assert.ok(isPatched("setTimeout"));
 * unpatchAll();
 * assert.equal(isPatched("setTimeout"), false);
 * ```
 *
 * @module
 */
import { patchAll } from "./patch.ts";

patchAll();
