// A chat server written the obvious way: `patch/all`, a greenlet per
// connection reading with `events.on`, a `Queue` and a writer greenlet per
// client, all in one `Group`. 200 clients send 20 messages each; the server
// is killed mid-broadcast. Three rounds; prints one line per round (handlers
// ended killed, open sockets, reports) and, last, the shutdown times and the
// heap growth from the first round's end to the last's (after GC), as JSON.
// Run with --expose-gc (Node) or --v8-flags=--expose-gc (Deno).
import "../patch_all.ts";
import events from "node:events";
import net from "node:net";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { getHub, Group, Queue, sleep } from "../mod.ts";

const CLIENTS = 200;
const MESSAGES = 20;
const gc = (globalThis as { gc?: () => void }).gc!;
const reports: string[] = [];
getHub().handleError = (g, e) => void reports.push(`${g}: ${e}`);

async function round(): Promise<{ shutdownMs: number; line: string }> {
  const group = new Group();
  const outboxes = new Set<Queue<string>>();
  let open = 0;

  async function writer(socket: net.Socket, outbox: Queue<string>) {
    for (;;) {
      const line = await outbox.get();
      if (!socket.write(line)) await events.once(socket, "drain");
    }
  }

  async function handler(socket: net.Socket) {
    open++;
    const outbox = new Queue<string>(100);
    outboxes.add(outbox);
    const w = group.spawn(writer, socket, outbox);
    try {
      for await (const [chunk] of events.on(socket, "data")) {
        for (const line of String(chunk).split("\n")) {
          if (line === "") continue;
          // a slow client's full outbox drops the message (its policy)
          for (const box of outboxes) {
            if (!box.full()) box.putNowait(`${line}\n`);
          }
        }
      }
    } finally {
      outboxes.delete(outbox);
      void w.kill(undefined, { block: false });
      socket.destroy();
      open--;
    }
  }

  const server = net.createServer((socket) =>
    void group.spawn(handler, socket)
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;

  // the clients: plain sockets outside the hub
  let received = 0;
  let reached!: () => void;
  const midBroadcast = new Promise<void>((r) => reached = r);
  const clients: net.Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = net.connect(port, "127.0.0.1");
    c.on("error", () => {});
    c.on("data", (d) => {
      received += d.length;
      if (received > 50_000) reached();
    });
    clients.push(c);
  }
  await Promise.all(clients.map((c) => events.once(c, "connect")));
  for (let m = 0; m < MESSAGES; m++) {
    for (const [i, c] of clients.entries()) {
      c.write(`client ${i} message ${m}\n`);
    }
  }
  await midBroadcast;

  const t0 = performance.now();
  server.close();
  await group.kill();
  const shutdownMs = performance.now() - t0;

  const members = [...group];
  const killed = group.size === 0; // every member ended and left the group
  for (const c of clients) c.destroy();
  await sleep(20);
  return {
    shutdownMs,
    line:
      `handlers ended: ${killed} (${members.length} left), open sockets: ${open}, reported: ${
        JSON.stringify(reports.splice(0))
      }`,
  };
}

const times: number[] = [];
const heaps: number[] = [];
for (let r = 0; r < 3; r++) {
  const { shutdownMs, line } = await round();
  times.push(Math.round(shutdownMs));
  console.log(line);
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(20);
    least = Math.min(least, process.memoryUsage().heapUsed);
  }
  heaps.push(least);
}
console.log(JSON.stringify({ times, growth: heaps[2] - heaps[0] }));
process.exit(0);
