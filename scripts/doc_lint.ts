/**
 * `deno doc --lint` over every public entry point (from `deno.json`).
 *
 * @module
 */
import { ENTRIES } from "./entries.ts";

const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...ENTRIES.map((e) => e.file)],
}).spawn().status;
Deno.exit(code);
