/**
 * socket.ts: loopback echo, exact interleavings of read / readLine / `for
 * await`, and what a kill or a Timeout does to each wait (connect, read,
 * readLine, write under back-pressure, accept) — on Deno (resource
 * sanitizer) and Node (active resources back to where they were).
 */
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import process from "node:process";
import { setImmediate } from "node:timers";
import {
  Event,
  type Greenlet,
  GreenletExit,
  joinAll,
  sleep,
  spawn,
  Timeout,
  withTimeout,
} from "../mod.ts";
import { type Conn, connect, listen, type Listener, wrap } from "../socket.ts";
import { errorsOf, isDeno, test } from "./test_adapter.ts";

/** The TCP handles alive (Node; Deno's sanitizer checks its own). */
function tcpHandles(): string[] {
  if (isDeno) return [];
  return process.getActiveResourcesInfo()
    .filter((r) => /TCP|TLS|Pipe/.test(r)).sort();
}

const turn = () => new Promise((r) => setImmediate(r));

/**
 * The TCP handles once those closing are released: a closed socket's handle
 * is freed by the runtime within a turn or two of the event loop (Node's
 * `server.close()` reports `close` before its handle is freed).
 */
async function handlesAfterClosing(want: string[] | null): Promise<string[]> {
  let handles = tcpHandles();
  for (let i = 0; i < 20; i++) {
    await turn();
    const now = tcpHandles();
    if (
      want === null ? now.join() === handles.join() : now.join() === want.join()
    ) return now;
    handles = now;
  }
  return tcpHandles();
}

/**
 * A test with a loopback listener, whose TCP handles are all released at
 * its end: on Node, `getActiveResourcesInfo()` is back to where it was.
 */
function sockTest(name: string, fn: (l: Listener) => Promise<void>): void {
  test(name, async () => {
    const before = await handlesAfterClosing(null);
    const listener = await listen({ hostname: "127.0.0.1", port: 0 });
    try {
      await fn(listener);
    } finally {
      await listener.close();
    }
    assert.deepEqual(await handlesAfterClosing(before), before);
  });
}

const text = (b: Uint8Array | null) =>
  b === null ? null : new TextDecoder().decode(b);

/** Reads until the end of the stream (or a reset): the number of bytes. */
async function drain(conn: Conn): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of conn) n += chunk.length;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "ECONNRESET" && code !== "EPIPE") throw e;
  }
  return n;
}

sockTest("socket: loopback echo, line by line", async (listener) => {
  const log: string[] = [];
  const server = spawn(async () => {
    await using conn = await listener.accept();
    let line: string | null;
    while ((line = await conn.readLine()) !== null) {
      log.push(`server got ${line}`);
      await conn.write(`${line.toUpperCase()}\n`);
    }
    log.push("server saw the end");
  });
  await using client = await connect(listener.addr);
  assert.equal(client.remoteAddr.port, listener.addr.port);
  assert.equal(client.remoteAddr.hostname, "127.0.0.1");
  for (const word of ["one", "two", "three"]) {
    await client.write(`${word}\n`);
    log.push(`client got ${await client.readLine()}`);
  }
  client.closeWrite();
  log.push(`client read ${await client.read()}`);
  await joinAll([server], { raiseError: true });
  assert.deepEqual(log, [
    "server got one",
    "client got ONE",
    "server got two",
    "client got TWO",
    "server got three",
    "client got THREE",
    "server saw the end",
    "client read null",
  ]);
});

sockTest(
  "socket: readLine waits for the rest of a line; read takes what is left after it",
  async (listener) => {
    const log: string[] = [];
    const asked = new Event();
    const took = new Event();
    await using client = await connect(listener.addr);
    await using server = await listener.accept();
    const reader = spawn(async () => {
      log.push(`line ${await client.readLine()}`);
      asked.set();
      log.push(`line ${await client.readLine()}`);
      log.push(`rest ${text(await client.read())}`);
      took.set();
      const into = new Uint8Array(3);
      log.push(`into ${text(await client.read(into))}`);
      log.push(`into ${text(await client.read(into))}`);
      log.push(`line ${JSON.stringify(await client.readLine())}`);
      log.push(`end ${await client.readLine()} ${await client.read()}`);
    });
    log.push("write one\\ntw");
    await server.write("one\ntw");
    await asked.wait();
    log.push("write o\\r\\nthree");
    await server.write("o\r\nthree");
    await took.wait(); // the reader took "three" before more comes
    await server.write("abcd\npartial");
    server.closeWrite();
    await reader.join();
    assert.ok(reader.successful(), String(reader.exception));
    assert.deepEqual(log, [
      "write one\\ntw",
      "line one",
      "write o\\r\\nthree",
      "line two",
      "rest three",
      "into abc",
      "into d\np",
      'line "artial"',
      "end null null",
    ]);
  },
);

sockTest(
  "socket: for await over a Conn yields the chunks until the end",
  async (listener) => {
    const log: string[] = [];
    const got = new Event();
    await using client = await connect(listener.addr);
    await using server = await listener.accept();
    const reader = spawn(async () => {
      for await (const chunk of client) {
        log.push(`chunk ${text(chunk)}`);
        got.set();
      }
      log.push("end");
    });
    for (const piece of ["a", "b", "c"]) {
      got.clear();
      log.push(`write ${piece}`);
      await server.write(piece);
      await got.wait();
    }
    await server.close();
    await reader.join();
    assert.deepEqual(log, [
      "write a",
      "chunk a",
      "write b",
      "chunk b",
      "write c",
      "chunk c",
      "end",
    ]);
  },
);

sockTest(
  "socket: the web streams read and write the same connection",
  async (listener) => {
    await using client = await connect(listener.addr);
    await using server = await listener.accept();
    const writer = client.writable.getWriter();
    await writer.write("over the stream");
    await writer.close(); // ends the writing half
    const chunks: string[] = [];
    for await (const chunk of server.readable) chunks.push(text(chunk)!);
    assert.deepEqual(chunks.join(""), "over the stream");
  },
);

/** Spawns `fn` in a greenlet, lets it park, and returns it. */
async function parked(fn: () => Promise<unknown>): Promise<Greenlet> {
  const g = spawn(fn);
  await sleep(0);
  await sleep(0);
  return g;
}

/** A peer that accepts and never answers: a TLS handshake with it hangs. */
sockTest(
  "socket: a kill during connect (a TLS handshake) destroys the socket at once",
  async (listener) => {
    const errors = await errorsOf(async () => {
      const g = spawn(() => connect({ ...listener.addr, tls: true }));
      await using peer = await listener.accept(); // TCP is up, TLS is not
      assert.notEqual(await peer.read(), null); // the ClientHello
      g.kill(undefined, { block: false });
      await g.join();
      assert.ok(g.value instanceof GreenletExit);
      assert.equal(await drain(peer), 0); // the end: the client closed
    });
    assert.deepEqual(errors, []);
  },
);

sockTest(
  "socket: a Timeout during connect rejects with it and destroys the socket",
  async (listener) => {
    const errors = await errorsOf(async () => {
      const log: string[] = [];
      const g = spawn(async () => {
        try {
          await withTimeout(30, () => connect({ ...listener.addr, tls: true }));
        } catch (e) {
          log.push(`caught ${e instanceof Timeout}`);
        }
      });
      await g.join();
      assert.deepEqual(log, ["caught true"]);
      // The deadline may come before the TCP handshake is done (a loaded
      // machine) or during the TLS one: accept until a marker connection,
      // each connection before it must end (the client destroyed it).
      await using marker = await connect(listener.addr);
      const before: string[] = [];
      for (;;) {
        await using conn = await listener.accept();
        if (conn.remoteAddr.port === marker.localAddr.port) break;
        await drain(conn);
        before.push("ended");
      }
      assert.ok(before.length <= 1, String(before));
    });
    assert.deepEqual(errors, []);
  },
);

test("socket: connect in a killed greenlet rejects at once and opens nothing", async () => {
  const errors = await errorsOf(async () => {
    const log: string[] = [];
    const g = spawn(async () => {
      try {
        await sleep(1_000);
      } finally {
        try {
          await connect({ port: 1 });
        } catch (e) {
          log.push(`connect: ${e instanceof GreenletExit}`);
        }
      }
    });
    await sleep(0);
    await g.kill();
    assert.deepEqual(log, ["connect: true"]);
  });
  assert.deepEqual(errors, []);
});

for (const op of ["read", "readLine"] as const) {
  sockTest(
    `socket: a kill during ${op} closes the connection`,
    async (listener) => {
      const errors = await errorsOf(async () => {
        const client = await connect(listener.addr);
        await using peer = await listener.accept();
        const log: string[] = [];
        const g = await parked(async () => {
          log.push(`${op}ing`);
          await (op === "read" ? client.read() : client.readLine());
          log.push("read something");
        });
        if (op === "readLine") {
          await peer.write("no newline");
          await sleep(0);
        }
        g.kill(undefined, { block: false });
        assert.equal(await drain(peer), 0); // the end: closed by the kill
        await g.join();
        assert.ok(g.value instanceof GreenletExit);
        assert.deepEqual(log, [`${op}ing`]);
        await assert.rejects(
          client.read(),
          /Cannot read from Conn\(.*\): it is closed/,
        );
        await client.close();
      });
      assert.deepEqual(errors, []);
    },
  );
}

sockTest(
  "socket: a Timeout during read leaves the connection open and loses nothing",
  async (listener) => {
    const errors = await errorsOf(async () => {
      await using client = await connect(listener.addr);
      await using peer = await listener.accept();
      const log: string[] = [];
      const g = spawn(async () => {
        try {
          await withTimeout(20, () => client.read());
        } catch (e) {
          log.push(`read: ${e instanceof Timeout ? "Timeout" : e}`);
        }
        await peer.write("late");
        log.push(`read ${text(await client.read())}`);
      });
      await g.join();
      assert.ok(g.successful());
      assert.deepEqual(log, ["read: Timeout", "read late"]);
    });
    assert.deepEqual(errors, []);
  },
);

sockTest(
  "socket: bytes of a line buffered before a Timeout are returned by the next readLine",
  async (listener) => {
    const errors = await errorsOf(async () => {
      await using client = await connect(listener.addr);
      await using peer = await listener.accept();
      const log: string[] = [];
      const g = spawn(async () => {
        await peer.write("part");
        try {
          await withTimeout(20, () => client.readLine());
        } catch (e) {
          log.push(`readLine: ${e instanceof Timeout ? "Timeout" : e}`);
        }
        await peer.write("ial\nnext\n");
        log.push(`line ${await client.readLine()}`);
        log.push(`line ${await client.readLine()}`);
      });
      await g.join();
      assert.deepEqual(log, ["readLine: Timeout", "line partial", "line next"]);
    });
    assert.deepEqual(errors, []);
  },
);

/** Writes 16 MiB to a peer that does not read: write waits for `drain`. */
const BIG = new Uint8Array(16 * 2 ** 20);

sockTest(
  "socket: a kill during a write under back-pressure closes the connection",
  async (listener) => {
    const errors = await errorsOf(async () => {
      const client = await connect(listener.addr);
      await using peer = await listener.accept();
      const log: string[] = [];
      const g = await parked(async () => {
        log.push("writing");
        await client.write(BIG);
        log.push("written");
      });
      assert.deepEqual(log, ["writing"]);
      g.kill(undefined, { block: false });
      await g.join();
      assert.ok(g.value instanceof GreenletExit);
      assert.ok((await drain(peer)) < BIG.length); // ended before the whole
      await assert.rejects(client.write("x"), /it is closed/);
      await client.close();
      assert.deepEqual(log, ["writing"]);
    });
    assert.deepEqual(errors, []);
  },
);

sockTest(
  "socket: a Timeout during a write under back-pressure keeps the bytes queued",
  async (listener) => {
    const errors = await errorsOf(async () => {
      await using client = await connect(listener.addr);
      await using peer = await listener.accept();
      const log: string[] = [];
      const g = spawn(async () => {
        try {
          await withTimeout(20, () => client.write(BIG));
          log.push("written");
        } catch (e) {
          log.push(`write: ${e instanceof Timeout ? "Timeout" : e}`);
        }
      });
      await g.join();
      const reader = spawn(() => drain(peer));
      await client.write("end");
      client.closeWrite();
      assert.equal(await reader.get(), BIG.length + 3);
      assert.deepEqual(log, ["write: Timeout"]);
    });
    assert.deepEqual(errors, []);
  },
);

test("socket: a kill during accept closes the listener; a Timeout does not", async () => {
  const before = await handlesAfterClosing(null);
  const errors = await errorsOf(async () => {
    const listener = await listen({ hostname: "127.0.0.1", port: 0 });
    const timedOut = spawn(async () => {
      try {
        await withTimeout(20, () => listener.accept());
      } catch (e) {
        return e;
      }
    });
    assert.ok(await timedOut.get() instanceof Timeout);
    // still listening: a connection is queued for the next accept
    await using client = await connect(listener.addr);
    await using server = await listener.accept();
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    const g = await parked(() => listener.accept());
    g.kill(undefined, { block: false });
    await g.join();
    assert.ok(g.value instanceof GreenletExit);
    await assert.rejects(
      listener.accept(),
      /Cannot accept on Listener\(127\.0\.0\.1:\d+\): it is closed/,
    );
    await assert.rejects(connect(listener.addr), /ECONNREFUSED/);
    await client.close();
    await server.close();
    await listener.close();
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(await handlesAfterClosing(before), before);
});

sockTest(
  "socket: for await over a Listener ends when it is closed",
  async (listener) => {
    const log: string[] = [];
    const acceptor = spawn(async () => {
      for await (const conn of listener) {
        log.push(`accepted ${conn.remoteAddr.hostname}`);
        await conn.close();
      }
      log.push("closed");
    });
    const client = await connect(listener.addr);
    assert.equal(await client.read(), null);
    await client.close();
    await sleep(0);
    await listener.close();
    await acceptor.join();
    assert.deepEqual(log, ["accepted 127.0.0.1", "closed"]);
  },
);

sockTest(
  "socket: readLine over maxLength throws a RangeError and keeps the bytes",
  async (listener) => {
    await using client = await connect(listener.addr);
    await using server = await listener.accept();
    await server.write("0123456789\nrest\n");
    assert.equal(await client.readLine({ maxLength: 10 }), "0123456789");
    assert.equal(await client.readLine(), "rest");
    await server.write("abcdefghijkl\n");
    await assert.rejects(
      client.readLine({ maxLength: 10 }),
      (e: unknown) =>
        e instanceof RangeError &&
        /^Cannot read a line from Conn\(.*\): no newline within 10 bytes \(maxLength\), received \d+ bytes$/
          .test(e.message),
    );
    assert.equal(await client.readLine(), "abcdefghijkl");
  },
);

sockTest("socket: one reader at a time", async (listener) => {
  await using client = await connect(listener.addr);
  await using server = await listener.accept();
  const g = spawn(() => client.read());
  await sleep(0);
  assert.throws(
    () => client.read(),
    /^Error: Cannot read from Conn\(.*\): another greenlet is reading it$/,
  );
  await server.write("x");
  assert.equal(text(await g.get() as Uint8Array), "x");
});

sockTest("socket: wrap makes a Conn of a node:net socket", async (listener) => {
  const raw = netConnect(listener.addr.port, "127.0.0.1");
  await new Promise((r) => raw.once("connect", r));
  await using conn = wrap(raw);
  await using peer = await listener.accept();
  assert.equal(conn.localAddr.port, peer.remoteAddr.port);
  await conn.write("wrapped\n");
  assert.equal(await peer.readLine(), "wrapped");
});

test("socket: argument errors are thrown at once", () => {
  assert.throws(
    () => connect({ port: 0 }),
    /^RangeError: Cannot connect: port must be an integer from 1 to 65535, received 0$/,
  );
  assert.throws(
    () => connect({ port: "80" as unknown as number }),
    /^TypeError: Cannot connect: port must be an integer from 1 to 65535, received "80"$/,
  );
  assert.throws(
    () => listen({ port: 1.5 }),
    /^RangeError: Cannot listen: port must be an integer from 0 to 65535, received 1\.5$/,
  );
  assert.throws(
    () => connect({ hostname: "", port: 80 }),
    /^TypeError: Cannot connect: hostname must be a non-empty string, received ""$/,
  );
  assert.throws(
    () => wrap({} as never),
    /^TypeError: Cannot wrap: socket must be a connected node:net Socket/,
  );
});

test(
  "socket: wrap makes a Conn of a Deno.Conn: half-close, and a kill closes it",
  async () => {
    const D = (globalThis as { Deno?: unknown }).Deno as typeof Deno;
    const listener = D.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const pending = D.connect({
        hostname: "127.0.0.1",
        port: listener.addr.port,
      });
      const raw = await listener.accept();
      await using conn = wrap(await pending);
      await using peer = wrap(raw);
      assert.equal(conn.remoteAddr.port, listener.addr.port);
      assert.equal(peer.remoteAddr.port, conn.localAddr.port);
      await conn.write("deno\n");
      assert.equal(await peer.readLine(), "deno");
      conn.closeWrite();
      assert.equal(await peer.read(), null);
      await peer.write("after the half-close");
      assert.equal(text(await conn.read()), "after the half-close");
      const errors = await errorsOf(async () => {
        const g = await parked(() => conn.read());
        g.kill(undefined, { block: false });
        await g.join();
        assert.ok(g.value instanceof GreenletExit);
      });
      assert.deepEqual(errors, []);
      assert.equal(await drain(peer), 0); // the kill closed it
    } finally {
      listener.close();
    }
  },
  { denoOnly: true },
);

sockTest(
  "socket: close() while a greenlet reads rejects its read and drops what is buffered",
  async (listener) => {
    const client = await connect(listener.addr);
    await using peer = await listener.accept();
    const log: string[] = [];
    const reader = spawn(async () => {
      log.push(`line ${await client.readLine()}`);
      try {
        await client.readLine();
      } catch (e) {
        log.push(String(e));
      }
    });
    await peer.write("one\ntwo without newline");
    await sleep(0); // reader took "one", waits for the rest of "two"
    while (log.length === 0) await sleep(0);
    const closed = client.close();
    log.push("closed");
    await reader.join();
    await closed;
    await assert.rejects(client.read(), /it is closed/);
    await assert.rejects(client.write("x"), /it is closed/);
    assert.equal(await drain(peer), 0);
    assert.deepEqual(log, [
      "line one",
      "closed",
      `Error: Cannot read a line from ${client}: it is closed`,
    ]);
  },
);

sockTest(
  "socket: bytes that came before the peer closed are read before the end",
  async (listener) => {
    await using client = await connect(listener.addr);
    const peer = await listener.accept();
    await peer.write("last words\nno newline");
    await peer.close();
    await sleep(10); // let the FIN and the close reach the client
    assert.equal(await client.readLine(), "last words");
    assert.equal(await client.readLine(), "no newline");
    assert.equal(await client.readLine(), null);
    assert.equal(await client.read(), null);
  },
);
