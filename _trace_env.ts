/**
 * `GEVENT_TRACE=path.json` in the environment: the whole program is traced
 * from the moment gevent-ts loads, and the trace is written to that file
 * when the program ends (normally, or by `Deno.exit()`/`process.exit()`).
 * `GEVENT_SITES=all|bounded|off`: how call sites are recorded (see
 * `setSiteMode` in monitor.ts).
 * Imported by `mod.ts` for this effect alone; it exports nothing. See
 * `startTrace` (trace.ts) for what a trace holds.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import process from "node:process";
import { nativeConsoleError } from "./_core/mod.ts";
import { setSiteMode } from "./monitor.ts";
import { startProgramTrace } from "./trace.ts";

/** Reads `variable` if it may (Deno: only with env permission). */
function readEnv(variable: string): string | undefined {
  const deno = (globalThis as {
    Deno?: {
      permissions?: {
        querySync?(d: { name: "env"; variable: string }): { state: string };
      };
      env: { get(name: string): string | undefined };
    };
  }).Deno;
  try {
    if (deno !== undefined) {
      const state = deno.permissions?.querySync?.({
        name: "env",
        variable,
      }).state;
      return state === "granted" ? deno.env.get(variable) : undefined;
    }
    return process.env[variable];
  } catch {
    return undefined; // no environment to read
  }
}

/** Starts the program's trace; writes it to `path` at exit. */
function traceProgram(path: string): void {
  const stop = startProgramTrace();
  let written = false;
  const write = (): void => {
    if (written) return;
    written = true;
    try {
      writeFileSync(path, JSON.stringify({ traceEvents: stop() }));
    } catch (e) {
      nativeConsoleError(
        `gevent-ts: cannot write the trace to ${path} (GEVENT_TRACE): ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  };
  const g = globalThis as {
    Deno?: unknown;
    addEventListener?: (type: string, fn: () => void) => void;
  };
  if (g.Deno !== undefined && typeof g.addEventListener === "function") {
    g.addEventListener("unload", write); // also after Deno.exit()
  } else {
    process.on("exit", write);
  }
}

const sites = readEnv("GEVENT_SITES");
if (sites === "all" || sites === "bounded" || sites === "off") {
  setSiteMode(sites);
} else if (sites !== undefined && sites !== "") {
  nativeConsoleError(
    `gevent-ts: GEVENT_SITES must be "all", "bounded" or "off", received ${
      JSON.stringify(sites)
    }: left "bounded"`,
  );
}

const programTrace = readEnv("GEVENT_TRACE");
if (programTrace !== undefined && programTrace !== "") {
  traceProgram(programTrace);
}
