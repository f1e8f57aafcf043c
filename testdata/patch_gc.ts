// Each patched streaming or callback API: a greenlet starts an operation
// that would take 5 s, a full garbage collection runs, then the greenlet is
// killed. Prints one line per API: whether the kill ended it (within 2 s)
// and ended it killed; then what the hub reported (nothing is expected).
// Run with --expose-gc (Node) or --v8-flags=--expose-gc (Deno).
import { EventEmitter } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { getHub, GreenletExit, sleep, spawn } from "../mod.ts";
import { patchAll } from "../patch.ts";

patchAll({ sync: "off" });
// Deno's ESM named imports keep what they were bound to: call through the
// modules' default exports, which the patch replaced members of
const cp = (await import("node:child_process")).default;
const ev = (await import("node:events")).default;
const http = (await import("node:http")).default;
const tp = (await import("node:timers/promises")).default;

const gc = (globalThis as { gc?: () => void }).gc!;
const reports: string[] = [];
getHub().handleError = (_ctx, error) => {
  reports.push(String((error as Error)?.name ?? error));
};

const server = createServer((_req, res) => {
  res.write("first");
  setTimeout(() => res.end("last"), 5_000).unref();
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const cases: [string, () => Promise<unknown>][] = [
  ["events.on", async () => {
    for await (const _ of ev.on(new EventEmitter(), "x")) break;
  }],
  ["events.once", () => ev.once(new EventEmitter(), "x")],
  ["timers/promises.setInterval", async () => {
    for await (const _ of tp.setInterval(5_000)) break;
  }],
  ["http.get", () =>
    new Promise((resolve, reject) => {
      http.get(`${base}/`, (res) => {
        res.resume();
        res.on("end", resolve);
      }).on("error", reject);
    })],
  ["http.request", () =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}/`, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    })],
  ["child_process.spawn (no 'error' listener)", () =>
    new Promise((resolve) => {
      cp.spawn("sleep", ["5"]).on("close", resolve);
    })],
  ["child_process.execFile", () =>
    new Promise((resolve, reject) => {
      cp.execFile("sleep", ["5"], (e) => e ? reject(e) : resolve(null));
    })],
  ["fetch (body stream)", async () => {
    const res = await fetch(`${base}/`);
    const reader = res.body!.getReader();
    while (!(await reader.read()).done);
  }],
];

for (const [name, start] of cases) {
  const g = spawn(start);
  await sleep(100);
  gc();
  await new Promise((r) => setTimeout(r, 10));
  gc();
  await g.kill(undefined, { timeout: 2_000 });
  console.log(
    `${name}: ${
      g.dead
        ? g.value instanceof GreenletExit ? "ended killed" : `ended ${g.value}`
        : "still running"
    }`,
  );
}
console.log(`reported: ${JSON.stringify(reports)}`);
server.closeAllConnections();
server.close();
process.exit(0);
