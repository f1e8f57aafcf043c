/**
 * What the A/B benchmarks share (`options_overhead.ts`,
 * `trace_overhead.ts`): an earlier commit extracted beside this tree, both
 * measured in one process in rounds that alternate which goes first.
 *
 * @module
 */

import type * as Mod from "../mod.ts";

/** Extracts `rev` with `git archive` into a temporary directory; returns it. */
export async function extract(rev: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gevent-ts-before-" });
  const root = new URL("..", import.meta.url).pathname;
  const archive = new Deno.Command("git", {
    args: ["-C", root, "archive", "--format=tar", rev],
    stdout: "piped",
  }).spawn();
  const tar = new Deno.Command("tar", {
    args: ["-x", "-C", dir],
    stdin: "piped",
  }).spawn();
  await archive.stdout.pipeTo(tar.stdin);
  if (!(await archive.status).success || !(await tar.status).success) {
    throw new Error(`cannot extract ${rev}`);
  }
  return dir;
}

/** The middle value (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * Runs `bench` once per library to warm up, then `rounds` times each,
 * alternating which library goes first; returns each library's figures.
 */
export async function alternate<L>(
  libs: [string, L][],
  bench: (lib: L) => Promise<number>,
  rounds: number,
): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = {};
  for (const [label, lib] of libs) {
    times[label] = [];
    await bench(lib); // warm up
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? libs : [...libs].reverse();
    for (const [label, lib] of order) times[label].push(await bench(lib));
  }
  return times;
}

/**
 * One line: the best figure (the least disturbed by other processes) of
 * each library, the median in brackets, and after/before ratios.
 */
export function row(name: string, before: number[], after: number[]): string {
  const b = Math.min(...before), a = Math.min(...after);
  const bm = median(before), am = median(after);
  return `${name.padEnd(36)} before ${b.toFixed(1)} (${bm.toFixed(1)})  ` +
    `after ${a.toFixed(1)} (${am.toFixed(1)})  ` +
    `after/before ${(a / b).toFixed(3)} (${(am / bm).toFixed(3)})`;
}

/**
 * ns per `acquire()` + `release()` of a free Semaphore of `lib` (no switch),
 * over `n` rounds: the uncontended hot path both A/B benchmarks measure.
 */
export async function uncontendedAcquire(
  lib: Pick<typeof Mod, "Semaphore">,
  n: number,
): Promise<number> {
  const sem = new lib.Semaphore(1);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await sem.acquire();
    sem.release();
  }
  return ((performance.now() - t0) * 1e6) / n;
}
