/**
 * Scale (`deno task bench:scale`): each scenario at N and 2N, with time and
 * peak RSS, to show linear growth and no stack overflow. One process per
 * scenario and size, so peaks do not mix.
 *
 * @module
 */
import process from "node:process";
import { joinAll, Semaphore, sleep, spawn } from "../mod.ts";

type Scenario = (n: number) => Promise<void>;

const SCENARIOS: Record<string, [number, Scenario]> = {
  // spawn and join n greenlets
  "spawn+join": [500_000, async (n) => {
    const gs = new Array(n);
    for (let i = 0; i < n; i++) gs[i] = spawn(() => i);
    await joinAll(gs);
  }],
  // n greenlets blocked on one Semaphore(0), released one by one
  "semaphore, one by one": [100_000, async (n) => {
    const sem = new Semaphore(0);
    const gs = new Array(n);
    for (let i = 0; i < n; i++) gs[i] = spawn(() => sem.acquire());
    await sleep(0);
    for (let i = 0; i < n; i++) {
      sem.release();
      if ((i & 1023) === 0) await sleep(0);
    }
    await joinAll(gs);
  }],
  // the same, released in one burst
  "semaphore, one burst": [100_000, async (n) => {
    const sem = new Semaphore(0);
    const gs = new Array(n);
    for (let i = 0; i < n; i++) gs[i] = spawn(() => sem.acquire());
    await sleep(0);
    for (let i = 0; i < n; i++) sem.release();
    await joinAll(gs);
  }],
  // a chain: greenlet i joins greenlet i-1
  "join chain": [10_000, async (n) => {
    // deno-lint-ignore no-explicit-any
    let prev: any = spawn(() => 0);
    for (let i = 1; i < n; i++) {
      const before = prev;
      prev = spawn(async () => {
        await before.join();
        return i;
      });
    }
    await prev.join();
  }],
  // two greenlets switching with sleep(0), n switches in all
  "ping-pong": [1_000_000, async (n) => {
    const body = async () => {
      for (let i = 0; i < n / 2; i++) await sleep(0);
    };
    await joinAll([spawn(body), spawn(body)]);
  }],
};

const [name, sizeArg] = (globalThis as { Deno?: { args: string[] } }).Deno
  ?.args ?? process.argv.slice(2);
if (name !== undefined) {
  // child: run one scenario at one size, print ms and peak RSS
  const n = Number(sizeArg);
  let peak = process.memoryUsage().rss;
  const probe = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const t0 = performance.now();
  await SCENARIOS[name][1](n);
  const ms = performance.now() - t0;
  clearInterval(probe);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ ms, peakMiB: peak / 2 ** 20 }));
} else {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const exe = deno ? deno.execPath() : process.execPath;
  const self = new URL(import.meta.url).pathname;
  const { execFileSync } = await import("node:child_process");
  console.log("| scenario | N | time | peak RSS | 2N | time | peak RSS |");
  console.log("|---|---|---|---|---|---|---|");
  for (const [scenario, [n]] of Object.entries(SCENARIOS)) {
    const cells: string[] = [];
    for (const size of [n, 2 * n]) {
      const args = deno ? ["run", "-A", self, scenario, String(size)] : [
        self,
        scenario,
        String(size),
      ];
      const out = execFileSync(exe, args, { encoding: "utf8" });
      const r = JSON.parse(out.trim().split("\n").pop()!);
      cells.push(
        size.toLocaleString("en"),
        `${r.ms.toFixed(0)} ms`,
        `${r.peakMiB.toFixed(0)} MiB`,
      );
    }
    console.log(`| ${scenario} | ${cells.join(" | ")} |`);
  }
}
