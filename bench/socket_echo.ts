/**
 * Loopback echo of `n` messages (64 bytes each, one in flight): the
 * `socket.ts` API (`connect`/`listen`, `write` then `read`, a greenlet
 * echoing on the server side) against plain `node:net` with promises
 * (unpatched: a `data` listener echoes, the client awaits each answer). Both
 * run in one process, side by side; `bench/bench.ts` prints them as rows.
 *
 * On its own: `deno run --allow-net=127.0.0.1 bench/socket_echo.ts`; on
 * Node, bundled: `npx esbuild bench/socket_echo.ts --bundle --platform=node
 * --format=esm --outfile=/tmp/socket_echo.mjs && node /tmp/socket_echo.mjs`.
 *
 * @module
 */
import { connect as netConnect, createServer, type Socket } from "node:net";
import { once } from "node:events";
import process from "node:process";
import { spawn } from "../mod.ts";
import { connect, listen } from "../socket.ts";

const MESSAGE = new TextEncoder().encode("x".repeat(63) + "\n");

/** Messages per second through the socket API's echo. */
export async function socketEcho(n: number): Promise<number> {
  await using listener = await listen({ hostname: "127.0.0.1", port: 0 });
  const server = spawn(async () => {
    await using conn = await listener.accept();
    let chunk: Uint8Array | null;
    while ((chunk = await conn.read()) !== null) await conn.write(chunk);
  });
  const t0 = performance.now();
  {
    await using client = await connect(listener.addr);
    let got = 0;
    for (let i = 0; i < n; i++) {
      await client.write(MESSAGE);
      // one message in flight: its bytes may come in more than one chunk
      for (let want = MESSAGE.length; want > 0;) {
        const chunk = await client.read();
        if (chunk === null) throw new Error("echo: early end");
        want -= chunk.length;
        got += chunk.length;
      }
    }
    if (got !== n * MESSAGE.length) throw new Error("echo: lost bytes");
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await server.join();
  return rate;
}

/**
 * Messages per second through plain `node:net` and promises: each side
 * reads with the socket's own async iterator (`for await`, `next()`) and
 * writes with `write()` (awaiting `drain` when it returns false).
 */
export async function netEcho(n: number): Promise<number> {
  const server = createServer(async (s) => {
    for await (const d of s) {
      if (!s.write(d)) await once(s, "drain");
    }
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  const t0 = performance.now();
  const client: Socket = netConnect(port, "127.0.0.1");
  await new Promise((r) => client.once("connect", r));
  const chunks = client[Symbol.asyncIterator]();
  let got = 0;
  for (let i = 0; i < n; i++) {
    if (!client.write(MESSAGE)) await once(client, "drain");
    for (let want = MESSAGE.length; want > 0;) {
      const r = await chunks.next();
      if (r.done) throw new Error("echo: early end");
      want -= r.value.length;
      got += r.value.length;
    }
  }
  if (got !== n * MESSAGE.length) throw new Error("echo: lost bytes");
  const rate = n / ((performance.now() - t0) / 1000);
  client.destroy();
  await new Promise((r) => client.once("close", r));
  await new Promise((r) => server.close(r));
  return rate;
}

/**
 * Both, alternated `reps` times (best of each): `[socket, net]` in
 * messages per second.
 */
export async function echoPair(
  n: number,
  reps = 5,
): Promise<[number, number]> {
  let sock = 0, net = 0;
  await socketEcho(1_000); // warm up both
  await netEcho(1_000);
  for (let i = 0; i < reps; i++) {
    sock = Math.max(sock, await socketEcho(n));
    net = Math.max(net, await netEcho(n));
  }
  return [sock, net];
}

const main = (import.meta as { main?: boolean }).main ??
  process.argv[1]?.endsWith("socket_echo.mjs");
if (main) {
  const [sock, net] = await echoPair(10_000);
  const runtime = "Deno" in globalThis ? "Deno" : `Node ${process.version}`;
  console.log(
    `${runtime}: loopback echo, 10,000 × 64 B: socket.ts ${
      (sock / 1e3).toFixed(1)
    } k msg/s, node:net promises ${(net / 1e3).toFixed(1)} k msg/s, ratio ${
      (sock / net).toFixed(3)
    }`,
  );
}
