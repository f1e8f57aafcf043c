/**
 * The common part of every JavaScript implementation process of
 * `bench:compare` (Deno on sources, Node on an esbuild bundle of the bench
 * files): reads `<workload> <params JSON>` from the command line, runs the
 * workload, and prints one JSON line `{impl, workload, how, metrics}` (or
 * `{…, na}` when the implementation has no such workload). Also the helpers
 * the workloads share: memory figures, checks, the HTTP GET.
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";

/** Sizes from the driver. */
export type Params = Record<string, number>;

/** What a workload returns: a description of the primitive used, figures. */
export interface Outcome {
  how: string;
  metrics: Record<string, number>;
}

/** A workload of one implementation; a string means "not applicable: why". */
export type Workload = ((p: Params) => Promise<Outcome>) | string;

/** The command-line arguments after the script (Deno and Node alike). */
export function args(): string[] {
  const deno = (globalThis as { Deno?: { args: string[] } }).Deno;
  return deno ? deno.args : process.argv.slice(2);
}

/** Throws unless `ok`: a workload that did not do its work must not count. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Seconds since `t0` (a `performance.now()`). */
export function secondsSince(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Two full GCs when the runtime was started with `--expose-gc`. */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc (--v8-flags=--expose-gc)");
  gc();
  gc();
}

/** Resident set size and V8 heap in use, now. */
export function memory(): { rss: number; heap: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

/** Peak resident set size of this process (VmHWM), in MiB. */
export function peakRssMiB(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error("no VmHWM in /proc/self/status");
  return Number(kb[1]) / 1024;
}

/** The expected response body of the loopback server (`server.ts`). */
export const BODY = "ok\n";

/** One GET with the global fetch; checks the status and body. */
export async function get(url: string): Promise<number> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200 || text !== BODY) {
    throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(text)}`);
  }
  return 1;
}

/** The URL of the loopback server, from the `port` parameter. */
export function urlOf(p: Params): string {
  return `http://127.0.0.1:${p.port}/`;
}

/**
 * Runs the workload named on the command line from `table` and prints its
 * JSON line. An error prints `{error}` and exits 1.
 */
export async function main(
  impl: string,
  table: Record<string, Workload>,
): Promise<void> {
  const [workload, json] = args();
  const params: Params = JSON.parse(json ?? "{}");
  const w = table[workload];
  const line: Record<string, unknown> = { impl, workload };
  if (w === undefined) {
    line.error = `unknown workload ${workload}`;
  } else if (typeof w === "string") {
    line.na = w;
  } else {
    try {
      const r = await w(params);
      line.how = r.how;
      line.metrics = r.metrics;
    } catch (e) {
      line.error = String((e as Error)?.stack ?? e);
    }
  }
  console.log(JSON.stringify(line));
  if (line.error !== undefined) process.exit(1);
}
