/**
 * A TCP chat server on `StreamServer`: a greenlet per connection, a
 * bounded `Queue` (the client's outbox) and a writer greenlet per client,
 * and one broadcaster greenlet that hands every message to every outbox.
 *
 * Protocol: a client sends its name on the first line, then one message per
 * line; everyone connected (the sender too) receives `name: message` lines,
 * and `* name joined` when someone joins.
 *
 * Slow-client policy: the broadcaster never waits for a client. It takes
 * the messages that came (one, or all those queued: a batch), puts the
 * batch into every outbox, then lets the writers run (`sleep(0)`), so an
 * outbox only grows while its client's connection pushes back (the client
 * does not read). An outbox holds at most 16 batches; a client whose outbox
 * is full when a batch comes is **disconnected** (its handler is killed,
 * which closes its connection) — nobody is held back, and every client
 * still connected has received every message, in order.
 * Senders are held back instead: the shared inbox holds 100 messages, and
 * a handler waits to put into it (so it stops reading its socket).
 *
 * The clients run in the same program (on `connect()` of `socket.ts`):
 * alice, bob and carol chat in turns; then a lurker that never reads joins
 * while a flooder sends 600 messages of 32 KB: once the kernel's buffers to
 * the lurker are full its outbox fills and the server drops it, while the
 * flooder (which reads along) gets all 600 back. Then the server stops and
 * the program ends by itself.
 *
 * Run: `deno run --allow-net=127.0.0.1 examples/11_chat_server.ts`
 *
 * @module
 */
import {
  getCurrent,
  type Greenlet,
  Queue,
  shield,
  sleep,
  spawn,
} from "../mod.ts";
import { StreamServer } from "../server.ts";
import { type Conn, connect } from "../socket.ts";

const OUTBOX = 16; // batches a client may fall behind before it is dropped

interface Client {
  name: string;
  outbox: Queue<string>;
  handler: Greenlet;
}

const clients = new Set<Client>();
const inbox = new Queue<string>(100); // every message, in arrival order

// the broadcaster: the messages that came, as one batch, to every outbox,
// never waiting for one
const broadcaster = spawn(async () => {
  for await (const first of inbox) {
    let batch = first; // with whatever else came meanwhile
    while (!inbox.empty()) batch += inbox.getNowait();
    for (const c of clients) {
      if (!c.outbox.full()) c.outbox.putNowait(batch);
      else {
        clients.delete(c);
        console.log(`server: ${c.name} dropped, ${OUTBOX} batches behind`);
        void c.handler.kill(undefined, { block: false });
      }
    }
    await sleep(0); // the writers take what they can
  }
});

/** Writes a client's outbox to its connection, a batch per write. */
async function writer(conn: Conn, outbox: Queue<string>): Promise<void> {
  for (;;) {
    let batch = await outbox.get();
    while (!outbox.empty()) batch += outbox.getNowait();
    try {
      await conn.write(batch); // waits while the client does not read
    } catch {
      return; // the connection closed: its handler ended
    }
  }
}

const server = new StreamServer(
  { hostname: "127.0.0.1", port: 0 },
  async (conn) => {
    const name = await conn.readLine();
    if (name === null) return;
    const outbox = new Queue<string>(OUTBOX);
    const client: Client = { name, outbox, handler: getCurrent() };
    const out = spawn(writer, conn, outbox);
    clients.add(client);
    try {
      await inbox.put(`* ${name} joined\n`);
      for (;;) {
        const text = await conn.readLine();
        if (text === null) return; // the client left
        await inbox.put(`${name}: ${text}\n`);
      }
    } finally {
      clients.delete(client);
      // (shielded: a killed handler still waits for its writer to end)
      await shield(() => out.kill()); // then the connection closes
    }
  },
  { pool: 1000 },
);
const { port } = await server.start();

/** Reads lines from `conn` into `seen` until one equals `last`. */
async function readUntil(
  conn: Conn,
  seen: string[],
  last: string,
): Promise<void> {
  for (;;) {
    const line = await conn.readLine();
    if (line === null) throw new Error(`closed before "${last}"`);
    seen.push(line);
    if (line === last) return;
  }
}

// alice, bob and carol: each joins, then they speak in turns, each turn
// once the speaker has its own line back (so everyone saw the one before)
const names = ["alice", "bob", "carol"];
const conns = new Map<string, Conn>();
const seen = new Map<string, string[]>(names.map((n) => [n, []]));
for (const name of names) {
  const conn = await connect({ hostname: "127.0.0.1", port });
  await conn.write(`${name}\n`);
  await readUntil(conn, seen.get(name)!, `* ${name} joined`);
  conns.set(name, conn);
}
const turns: [string, string][] = [
  ["alice", "hi"],
  ["bob", "hello alice"],
  ["carol", "hey both"],
  ["alice", "bye"],
];
for (const [name, text] of turns) {
  await conns.get(name)!.write(`${text}\n`);
  await readUntil(conns.get(name)!, seen.get(name)!, `${name}: ${text}`);
}
for (const name of names) {
  const conn = conns.get(name)!;
  const lines = seen.get(name)!;
  if (lines.at(-1) !== "alice: bye") await readUntil(conn, lines, "alice: bye");
  await conn.close();
  console.log(`${name} saw: ${seen.get(name)!.join(" | ")}`);
}

// a lurker that never reads, and a flooder that reads along
const lurker = await connect({ hostname: "127.0.0.1", port });
await lurker.write("lurker\n");
await readUntil(lurker, [], "* lurker joined");
const flooder = await connect({ hostname: "127.0.0.1", port });
await flooder.write("flooder\n");
const FLOOD = 600;
const big = "x".repeat(32 * 1024);
const reader = spawn(async () => {
  let own = 0;
  while (own < FLOOD) {
    const line = await flooder.readLine();
    if (line === null) throw new Error("the flooder was dropped");
    if (line.startsWith("flooder: ")) own++;
  }
  return own;
});
for (let i = 0; i < FLOOD; i++) await flooder.write(`${big}\n`);
const own = await reader.get();
console.log(`flooder: all ${own} of its 32 KB messages came back`);
let lurked = 0;
try {
  for await (const chunk of lurker) lurked += chunk.length;
} catch { /* reset by the server: also an end */ }
console.log(
  `lurker: its connection ended after ${
    lurked < FLOOD * big.length ? "some" : "all"
  } of the flood`,
);
await Promise.all([flooder.close(), lurker.close()]);

await server.stop({ timeout: 1000 });
inbox.close();
await broadcaster.join();
console.log(`server stopped: ${clients.size} clients left`);
