/**
 * Importing this module patches everything (`patchAll()`): timers, `fetch`,
 * Deno's async APIs, and synchronous blocking calls in `"warn"` mode. Make it
 * the first import of your program, before other modules capture the
 * globals.
 *
 * @example
 * ```ts
 * import "./patch_all.ts";
 * import { unpatchAll } from "./patch.ts";
 * unpatchAll();
 * ```
 *
 * @module
 */
import { patchAll } from "./patch.ts";

patchAll();
