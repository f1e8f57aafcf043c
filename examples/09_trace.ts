/**
 * Tracing: the tutorial's program 5 (examples/05_semaphore.ts, run as it
 * is) under `startTrace()`, its trace written as Chrome trace-event JSON.
 * It prints the program's ten lines, then where the trace went.
 *
 * Open the file in Perfetto (ui.perfetto.dev → Open trace file) or
 * chrome://tracing: one track per greenlet (main, f1, f2), a slice for each
 * run between switch points, a slice for each wait (`Semaphore(…)`,
 * `sleep`) and arrows from the greenlet that woke it. `deno task trace:svg`
 * runs this program and draws `docs/trace.svg` from its trace.
 *
 * Run: `deno run --allow-write examples/09_trace.ts [trace.json]`
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { startTrace, stopTrace } from "../mod.ts";

const path = process.argv[2] ?? "trace.json";

startTrace();
await import("./05_semaphore.ts");
const events = stopTrace();
// one event per line: a file to read and to diff, as well as to open
writeFileSync(
  path,
  `{"traceEvents":[\n${events.map((e) => JSON.stringify(e)).join(",\n")}\n]}\n`,
);
console.log(
  `trace written to ${path} (open it in Perfetto: ui.perfetto.dev → Open trace file)`,
);
