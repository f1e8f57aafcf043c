// A sleep longer than 2^31-1 ms and a spawnLater(Infinity) beside a short
// sleep: no TimeoutOverflowWarning, no spinning. Prints the CPU time used
// while the hub idles for 300 ms.
import process from "node:process";
import { sleep, spawn, spawnLater } from "../mod.ts";

const long = spawn(() => sleep(2 ** 31 + 5_000));
const never = spawnLater(Infinity, () => {});
await sleep(0);
const before = process.cpuUsage();
await sleep(300);
const used = process.cpuUsage(before);
console.log(
  `cpu ms while idle: ${Math.round((used.user + used.system) / 1000)}`,
);
await long.kill();
await never.kill();
