// The chat server of examples/11_chat_server.ts (a StreamServer, a bounded
// outbox Queue and a writer greenlet per client, one broadcaster), under
// load: 200 clients (socket.ts connect) send 20 messages each. Round 1:
// every receiver gets every sender's 20 in order, none twice. Round 2: the
// broadcaster stops the server (timeout 0) once it broadcast 1,000 of the
// round's messages: every handler is killed and unwinds, every connection closes,
// what each receiver got of each sender is still in order without
// duplicates, and the process ends by itself. Prints summary lines only.
import process from "node:process";
import {
  getCurrent,
  getHub,
  type Greenlet,
  Queue,
  shield,
  sleep,
  spawn,
} from "../mod.ts";
import { RequestEnded, StreamServer } from "../server.ts";
import { type Conn, connect } from "../socket.ts";

const CLIENTS = 200;
const MESSAGES = 20;
const STOP_AT = 1000; // round 2's messages broadcast before the stop
const OUTBOX = 1000;

const reports: string[] = [];
getHub().handleError = (g, e) => void reports.push(`${g.name}: ${e}`);

interface Client {
  name: string;
  outbox: Queue<string>;
  handler: Greenlet;
}
const clients = new Set<Client>();
const inbox = new Queue<string>(100);
let round = 1, broadcasts = 0, dropped = 0, killed = 0, finallies = 0;
let stopping: Promise<void> | null = null;

const broadcaster = spawn(async () => {
  for await (const first of inbox) {
    let batch = first, lines = 1; // what came meanwhile goes out with it
    while (!inbox.empty()) {
      batch += inbox.getNowait();
      lines++;
    }
    for (const c of clients) {
      if (!c.outbox.full()) c.outbox.putNowait(batch);
      else {
        clients.delete(c);
        dropped++;
        void c.handler.kill(undefined, { block: false });
      }
    }
    if (round === 2 && (broadcasts += lines) >= STOP_AT && stopping === null) {
      stopping = server.stop({ timeout: 0 }); // mid-broadcast
    }
    await sleep(0);
  }
});

async function writer(conn: Conn, outbox: Queue<string>): Promise<void> {
  for (;;) {
    let batch = await outbox.get();
    while (!outbox.empty()) batch += outbox.getNowait();
    try {
      await conn.write(batch);
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
        if (text === null) return;
        await inbox.put(`${name}: ${text}\n`);
      }
    } catch (e) {
      if (e instanceof RequestEnded && e.reason === "stopped") killed++;
      throw e;
    } finally {
      clients.delete(client);
      await shield(() => out.kill());
      finallies++;
    }
  },
  { pool: 1000 },
);
const { port } = await server.start();

/** Per receiver, per sender: the message numbers received, in order. */
const got = Array.from(
  { length: CLIENTS },
  () => Array.from({ length: CLIENTS }, () => [] as number[]),
);
const conns: Conn[] = [];
const roundDone = [0, 0, 0];

for (let i = 0; i < CLIENTS; i++) {
  const conn = await connect({ hostname: "127.0.0.1", port });
  await conn.write(`c${i}\n`);
  for (;;) { // until the server knows it: its own join notice
    const line = await conn.readLine();
    if (line === `* c${i} joined`) break;
  }
  conns.push(conn);
}
console.log(`${CLIENTS} clients joined`);

let ended = 0;
conns.forEach((conn, r) =>
  spawn(async () => {
    try {
      for (;;) {
        const line = await conn.readLine();
        if (line === null) break;
        if (line.charCodeAt(0) === 42) continue; // a join notice
        const m = /^c(\d+): r(\d) m(\d+)$/.exec(line)!;
        got[r][Number(m[1])].push(Number(m[3]));
        roundDone[Number(m[2])]++;
      }
    } catch { /* reset by the server */ }
    ended++;
  })
);

async function send(n: number): Promise<void> {
  round = n;
  await Promise.all(conns.map(async (conn) => {
    try {
      for (let j = 0; j < MESSAGES; j++) await conn.write(`r${n} m${j}\n`);
    } catch { /* the server closed it (round 2) */ }
  }));
}

/** Whether every receiver's list of every sender is 0, 1, …, in order. */
function inOrder(full: boolean): boolean {
  return got.every((bySender) =>
    bySender.every((nums) =>
      (!full || nums.length === MESSAGES) &&
      nums.every((v, k) => v === k)
    )
  );
}

await send(1);
while (roundDone[1] < CLIENTS * CLIENTS * MESSAGES) await sleep(5);
console.log(
  `round 1: ${CLIENTS * MESSAGES} messages, ${roundDone[1]} deliveries; ` +
    `every receiver got every sender's ${MESSAGES} in order, none twice: ${
      inOrder(true)
    }`,
);

for (const list of got) for (const nums of list) nums.length = 0;
await send(2);
while (stopping === null) await sleep(5);
await stopping;
await server.finished;
while (ended < CLIENTS) await sleep(5);
await Promise.all(conns.map((c) => c.close()));
inbox.close();
await broadcaster.join();
console.log(
  `round 2: stopped mid-broadcast (after ${STOP_AT}+ messages): ` +
    `${killed} handlers killed, ${finallies} finally blocks, ${dropped} dropped, ` +
    `${clients.size} clients left, ${reports.length} errors reported`,
);
console.log(
  `round 2: ${ended} connections ended by the server; what arrived is in order, none twice: ${
    inOrder(false)
  }; fewer than all: ${roundDone[2] < CLIENTS * CLIENTS * MESSAGES}`,
);
// the runtime frees closed handles within a few turns of the event loop
const tcp = () =>
  ((process as { getActiveResourcesInfo?: () => string[] })
    .getActiveResourcesInfo?.() ?? []).filter((r) => /TCP/.test(r)).length;
for (let i = 0; i < 50 && tcp() > 0; i++) await sleep(2);
console.log(`open TCP handles: ${tcp()}`);
for (const r of reports) console.log(r);
