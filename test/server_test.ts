/**
 * The servers, driven by real clients (`fetch`) over loopback on both
 * runtimes: the pool's bound, client aborts (and the backend calls they
 * abort), the deadline's 503 after cleanup, a stop under load, Express and
 * Hono.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createServer,
  type IncomingMessage,
  type Server as NodeServer,
} from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import express from "express";
import { Hono } from "hono";
import { Event, getCurrent, Pool, shield, sleep, withTimeout } from "../mod.ts";
import { patchFetch, unpatchAll } from "../patch.ts";
import {
  greenletHandler,
  greenletListener,
  RequestEnded,
  serve,
  type Server,
  StreamServer,
} from "../server.ts";
import { type Conn, connect } from "../socket.ts";
import {
  capturingErrors,
  deferred,
  errorsOf,
  isDeno,
  runFixture,
  test,
} from "./test_adapter.ts";

const HOST = "127.0.0.1";

async function start(
  fn: (req: Request) => Response | Promise<Response>,
  options: Parameters<typeof serve>[1] = {},
): Promise<{ server: Server; url: string }> {
  const server = serve(fn, { hostname: HOST, port: 0, ...options });
  const { port } = await server.ready;
  return { server, url: `http://${HOST}:${port}` };
}

/** Waits (switching) until `cond()` holds, at most `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${cond}`);
    await sleep(2);
  }
}

/** A node:http server that never answers `/hang`, counting what it sees. */
async function hangingBackend(): Promise<{
  url: string;
  seen: () => number;
  closed: () => number;
  close: () => Promise<void>;
}> {
  let seen = 0, closed = 0;
  const server: NodeServer = createServer((req, res) => {
    seen++;
    res.on("close", () => closed++);
    req.resume();
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${HOST}:${port}/hang`,
    seen: () => seen,
    closed: () => closed,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function tcpResources(): number {
  const info = (process as { getActiveResourcesInfo?: () => string[] })
    .getActiveResourcesInfo?.() ?? [];
  return info.filter((r) => r.startsWith("TCP")).length;
}

test("serve: with pool 10, exactly 10 handlers run at once and the rest queue in order", async () => {
  const go = new Event();
  let running = 0, peak = 0, arrived = 0;
  const startedBeforeGo: number[] = [];
  const { server, url } = await start(async (req) => {
    const n = Number(new URL(req.url).pathname.slice(1));
    peak = Math.max(peak, ++running);
    if (!go.isSet()) startedBeforeGo.push(n);
    await go.wait();
    await sleep(1);
    running--;
    return new Response(String(n));
  }, { pool: 10 });
  try {
    const bodies = Array.from(
      { length: 25 },
      (_, i) =>
        fetch(`${url}/${i}`).then(async (r) => {
          arrived++;
          return await r.text();
        }),
    );
    await until(() => startedBeforeGo.length === 10);
    await sleep(50); // the other 15 reach the server and queue
    assert.equal(startedBeforeGo.length, 10);
    assert.equal(running, 10);
    assert.equal(arrived, 0);
    go.set();
    const texts = await Promise.all(bodies);
    assert.deepEqual(texts, Array.from({ length: 25 }, (_, i) => String(i)));
    assert.equal(peak, 10);
  } finally {
    await server.stop();
  }
});

test("serve: a client abort kills the request's greenlet at its switch point, aborts its backend calls, reports nothing", async () => {
  const backend = await hangingBackend();
  const log: string[] = [];
  const ended = deferred();
  patchFetch();
  try {
    await capturingErrors(async (errors) => {
      const { server, url } = await start(async (req) => {
        req.signal.addEventListener("abort", () => log.push("client gone"));
        try {
          await Promise.all([1, 2, 3].map(() => fetch(backend.url)));
          log.push("backend answered");
          return new Response("unreachable");
        } catch (e) {
          log.push(`caught ${(e as Error).name}`);
          throw e;
        } finally {
          log.push(`finally in ${getCurrent().name}`);
          ended.resolve();
        }
      });
      try {
        const client = new AbortController();
        const answer = fetch(`${url}/fan-out`, { signal: client.signal })
          .then(() => "answered", (e: Error) => e.name);
        await until(() => backend.seen() === 3);
        client.abort();
        assert.equal(await answer, "AbortError");
        await ended.promise;
        await until(() => backend.closed() === 3);
        assert.deepEqual(log.slice(0, 1), ["client gone"]);
        assert.deepEqual(log.slice(-1), ["finally in GET /fan-out"]);
        // the kill lands at the one switch point the handler is in: the
        // backend calls reject (aborted) and nothing else runs in between
        assert.equal(log.length, 3);
        assert.match(log[1], /^caught (RequestEnded|AbortError)$/);
        assert.equal(backend.seen(), 3);
      } finally {
        await server.stop();
      }
      assert.deepEqual(errors, []);
    });
  } finally {
    unpatchAll();
    await backend.close();
  }
});

test("serve: timeout answers 503 only after the handler's finally and shielded cleanup ran", async () => {
  const log: string[] = [];
  await capturingErrors(async (errors) => {
    const { server, url } = await start(async () => {
      try {
        await sleep(10_000);
        return new Response("late");
      } finally {
        await shield(async () => {
          await sleep(20);
          log.push("cleanup done");
        });
        log.push("finally");
      }
    }, { timeout: 30 });
    try {
      const res = await fetch(`${url}/slow`);
      log.push(`client got ${res.status}: ${await res.text()}`);
    } finally {
      await server.stop();
    }
    assert.deepEqual(log, [
      "cleanup done",
      "finally",
      "client got 503: Service Unavailable: the handler ran over 30 ms\n",
    ]);
    assert.deepEqual(errors, []);
  });
});

test("serve: a real failure is reported once and answered 500", async () => {
  await capturingErrors(async (errors) => {
    const { server, url } = await start(async () => {
      await sleep(1);
      throw new Error("boom");
    });
    try {
      const res = await fetch(`${url}/fail`);
      assert.equal(res.status, 500);
      await res.text();
    } finally {
      await server.stop();
    }
    assert.deepEqual(errors, ["GET /fail: Error: boom"]);
  });
});

test("serve: stop({ timeout }) under load — quick requests finish, slow ones are killed at the deadline, every finally ran, nothing after, every socket closed", async () => {
  const resourcesBefore = tcpResources();
  const log: string[] = [];
  let finallies = 0, begun = 0, arrived = 0;
  const { server, url } = await start(async (req) => {
    const slow = req.url.endsWith("/slow");
    begun++;
    try {
      await sleep(slow ? 10_000 : 60);
      return new Response("done");
    } finally {
      await shield(() => sleep(5));
      finallies++;
    }
  }, {
    pool: 8,
    name: (req) => `${++arrived} ${new URL(req.url).pathname}`, // before the pool
  });
  const answers = [
    ...Array.from({ length: 6 }, () => `${url}/quick`),
    ...Array.from({ length: 6 }, () => `${url}/slow`),
  ].map((u) =>
    fetch(u).then(async (r) => `${r.status} ${await r.text()}`.trim())
  );
  await until(() => begun === 8 && arrived === 12); // the pool is full, four wait
  const stopped = server.stop({ timeout: 300 }).then(() => log.push("stopped"));
  const late = await fetch(`${url}/quick`).then(
    (r) => r.text().then(() => `answered ${r.status}`),
    () => "refused",
  );
  log.push(`late request ${late}`);
  const results = await Promise.all(answers);
  await stopped;
  await server.finished;
  assert.deepEqual(results.slice(0, 6), Array(6).fill("200 done"));
  assert.deepEqual(
    results.slice(6),
    Array(6).fill("503 Service Unavailable: the server is stopping"),
  );
  assert.equal(begun, 12); // the queued ones ran once slots freed
  assert.equal(finallies, begun);
  assert.deepEqual(log, ["late request refused", "stopped"]);
  if (!isDeno) await until(() => tcpResources() <= resourcesBefore);
});

test("serve: await using stops the server; a stopped server's address refuses", async () => {
  let url = "";
  {
    await using server = serve(() => new Response("ok"), {
      hostname: HOST,
      port: 0,
    });
    url = `http://${HOST}:${(await server.ready).port}`;
    assert.equal(await (await fetch(url)).text(), "ok");
  }
  await assert.rejects(fetch(url));
});

test("serve: signal stops it; onListen gets the address", async () => {
  const ac = new AbortController();
  const seen: number[] = [];
  const server = serve(() => new Response("ok"), {
    hostname: HOST,
    port: 0,
    signal: ac.signal,
    onListen: ({ port }) => seen.push(port),
  });
  const { port } = await server.ready;
  assert.deepEqual(seen, [port]);
  ac.abort();
  await server.finished;
});

test("greenletHandler: argument errors are thrown at once", () => {
  assert.throws(
    () => greenletHandler(42 as never),
    new TypeError(
      "Cannot create greenletHandler: fn must be a function, received 42",
    ),
  );
  assert.throws(
    () => greenletHandler(() => new Response(), { pool: 0 }),
    new RangeError(
      "Cannot create greenletHandler: pool must be a Pool or a capacity (an integer ≥ 1), received 0",
    ),
  );
  assert.throws(
    () => greenletHandler(() => new Response(), { timeout: -1 }),
    RangeError,
  );
  assert.throws(
    () => serve(() => new Response(), { port: 70000 }),
    new RangeError(
      "Cannot serve: port must be an integer from 0 to 65535, received 70000",
    ),
  );
});

test("greenletHandler: a shared Pool bounds two handlers together; the name option names the greenlet", async () => {
  const pool = new Pool(1);
  const names: string[] = [];
  const gate = new Event();
  const a = greenletHandler(async () => {
    names.push(getCurrent().name);
    await gate.wait();
    return new Response("a");
  }, { pool, name: "a" });
  const b = greenletHandler(() => {
    names.push(getCurrent().name);
    return new Response("b");
  }, { pool, name: (req) => `b ${new URL(req.url).search}` });
  const ra = a(new Request("http://x/"));
  const rb = b(new Request("http://x/?q=1"));
  await sleep(5);
  assert.deepEqual(names, ["a"]);
  gate.set();
  assert.equal(await (await ra).text(), "a");
  assert.equal(await (await rb).text(), "b");
  assert.deepEqual(names, ["a", "b ?q=1"]);
});

test("Express through greenletListener: a greenlet per request; a client abort kills it quietly", async () => {
  const log: string[] = [];
  const ended = deferred();
  const app = express();
  app.get("/users/:id", async (req, res) => {
    await sleep(1);
    res.json({ id: req.params.id, greenlet: getCurrent().name });
  });
  app.get("/hang", async (_req, res) => {
    try {
      await sleep(10_000);
      res.end("late");
    } catch (e) {
      log.push(`route caught ${(e as Error).name}`);
    } finally {
      log.push("route finally");
      ended.resolve();
    }
  });
  app.get("/fail", async () => {
    await sleep(1);
    throw new Error("route failed");
  });
  const server = createServer(greenletListener(app, { pool: 4 }));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const url = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  try {
    await capturingErrors(async (errors) => {
      const res = await fetch(`${url}/users/7`);
      assert.deepEqual(await res.json(), { id: "7", greenlet: "GET /users/7" });
      const client = new AbortController();
      const answer = fetch(`${url}/hang`, { signal: client.signal })
        .catch((e: Error) => e.name);
      await sleep(30);
      client.abort();
      assert.equal(await answer, "AbortError");
      await ended.promise;
      assert.deepEqual(log, ["route caught RequestEnded", "route finally"]);
      assert.deepEqual(errors, []);
      // no route: 404; a route's failure with no error middleware: reported
      // once (instead of Express's final handler printing it) and 500
      const missing = await fetch(`${url}/nope?x=1`);
      assert.equal(
        `${missing.status} ${await missing.text()}`,
        "404 Cannot GET /nope\n",
      );
      const failed = await fetch(`${url}/fail`);
      assert.equal(
        `${failed.status} ${await failed.text()}`,
        "500 Internal Server Error\n",
      );
      assert.deepEqual(errors, ["GET /fail: Error: route failed"]);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("greenletListener: timeout answers 503 after cleanup; a failure goes to next(err) as middleware", async () => {
  const log: string[] = [];
  const app = express();
  app.get(
    "/slow",
    greenletListener(async (_req, res) => {
      try {
        await sleep(10_000);
        res.end("late");
      } finally {
        await shield(() => sleep(10));
        log.push("finally");
      }
    }, { timeout: 20 }),
  );
  app.get(
    "/fail",
    greenletListener(async (req: IncomingMessage) => {
      await sleep(1);
      throw new Error(`failed ${req.url}`);
    }),
  );
  app.use(
    (
      err: Error,
      _req: unknown,
      res: { status(n: number): { send(s: string): void } },
      _next: unknown,
    ) => {
      log.push(`express error hook: ${err.message}`);
      res.status(500).send("hooked");
    },
  );
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const url = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  try {
    await capturingErrors(async (errors) => {
      const slow = await fetch(`${url}/slow`);
      log.push(`client ${slow.status}`);
      await slow.text();
      const fail = await fetch(`${url}/fail`);
      assert.equal(`${fail.status} ${await fail.text()}`, "500 hooked");
      assert.deepEqual(log, [
        "finally",
        "client 503",
        "express error hook: failed /fail",
      ]);
      assert.deepEqual(errors, ["GET /fail: Error: failed /fail"]);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

function honoApp(log: string[], ended: { resolve(): void }): Hono {
  const app = new Hono();
  app.get("/users/:id", async (c) => {
    await sleep(1);
    return c.json({ id: c.req.param("id"), greenlet: getCurrent().name });
  });
  app.get("/hang", async (c) => {
    try {
      await sleep(10_000);
      return c.text("late");
    } finally {
      log.push(`finally (killed: ${getCurrent().signal.aborted})`);
      ended.resolve();
    }
  });
  app.onError((err, c) => {
    log.push(`onError ${err.name}`);
    return c.text("error", 500);
  });
  return app;
}

async function honoChecks(url: string, log: string[], ended: Promise<void>) {
  await capturingErrors(async (errors) => {
    const res = await fetch(`${url}/users/7`);
    assert.deepEqual(await res.json(), { id: "7", greenlet: "GET /users/7" });
    const client = new AbortController();
    const answer = fetch(`${url}/hang`, { signal: client.signal })
      .catch((e: Error) => e.name);
    await sleep(30);
    client.abort();
    assert.equal(await answer, "AbortError");
    await ended;
    assert.deepEqual(log, ["finally (killed: true)"]); // no onError
    assert.deepEqual(errors, []);
  });
}

test("Hono through greenletHandler with serve(): a client abort reaches no onError and reports nothing", async () => {
  const log: string[] = [];
  const ended = deferred();
  const app = honoApp(log, ended);
  const { server, url } = await start(app.fetch, { pool: 10 });
  try {
    await honoChecks(url, log, ended.promise);
  } finally {
    await server.stop();
  }
});

test(
  "Hono through greenletHandler on @hono/node-server's own server",
  async () => {
    const { createAdaptorServer } = await import("@hono/node-server");
    const log: string[] = [];
    const ended = deferred();
    const app = honoApp(log, ended);
    const server = createAdaptorServer({
      fetch: greenletHandler(app.fetch),
      overrideGlobalObjects: false,
    }) as NodeServer;
    await new Promise<void>((r) => server.listen(0, HOST, r));
    const url = `http://${HOST}:${(server.address() as AddressInfo).port}`;
    try {
      await honoChecks(url, log, ended.promise);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  },
  { nodeOnly: true },
);

test("greenletHandler: a handler that catches the server's kill cannot answer instead; withTimeout inside gives a fallback", async () => {
  const handler = greenletHandler(async (req) => {
    if (req.url.endsWith("/own")) {
      return await withTimeout(
        10,
        () => sleep(10_000).then(() => new Response("late")),
        {
          timeoutValue: new Response("fallback", { status: 504 }),
        },
      );
    }
    try {
      await sleep(10_000);
      return new Response("late");
    } catch (e) {
      assert.ok(e instanceof RequestEnded);
      return new Response("caught", { status: 500 });
    }
  }, { timeout: 30 });
  const caught = await handler(new Request("http://x/caught"));
  assert.equal(
    `${caught.status} ${(await caught.text()).trim()}`,
    "503 Service Unavailable: the handler ran over 30 ms",
  );
  const own = await handler(new Request("http://x/own"));
  assert.equal(`${own.status} ${await own.text()}`, "504 fallback");
});

test("a request's greenlet records no spawn site (it would be the server's own frame, captured per request); its name says what it runs", async () => {
  const seen: string[] = [];
  const handler = greenletHandler((req) => {
    const g = getCurrent();
    seen.push(`${g.name} ${g.spawnSite}`);
    return new Response(req.url);
  });
  assert.equal(
    await (await handler(new Request("http://x/a?q=1"))).text(),
    "http://x/a?q=1",
  );
  const server = createServer(greenletListener((_req, res) => {
    const g = getCurrent();
    seen.push(`${g.name} ${g.spawnSite}`);
    res.end("ok");
  }));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://${HOST}:${port}/b`);
    assert.equal(await res.text(), "ok");
  } finally {
    await new Promise((r) => server.close(r));
  }
  assert.deepEqual(seen, ["GET /a null", "GET /b null"]);
});

test("serve: a client abort while the handler sits in a raw await, which it then finishes, reports nothing", async () => {
  const gate = deferred();
  const log: string[] = [];
  await capturingErrors(async (errors) => {
    const { server, url } = await start(async () => {
      await gate.promise; // not hub-aware: the kill cannot land here
      log.push("handler went on");
      return new Response("done");
    });
    try {
      const client = new AbortController();
      const answer = fetch(`${url}/raw`, { signal: client.signal })
        .catch((e: Error) => e.name);
      await sleep(30);
      client.abort();
      assert.equal(await answer, "AbortError");
      await sleep(30); // the server sees the client go
      gate.resolve();
      await until(() => log.length === 1);
    } finally {
      await server.stop();
    }
    assert.deepEqual(errors, []);
  });
});

// --- StreamServer: a greenlet per TCP connection, real TCP clients ---

/** A line read from `c`, or how the stream ended. */
async function lineOf(c: Conn): Promise<string> {
  try {
    return (await c.readLine()) ?? "end of stream";
  } catch {
    return "reset";
  }
}

test("StreamServer: with pool 3, exactly 3 handlers run at once; the rest wait unaccepted and start in arrival order as slots free", async () => {
  const resourcesBefore = tcpResources();
  const log: string[] = [];
  const gates = Array.from({ length: 6 }, () => new Event());
  const ports = new Map<string, number>();
  let running = 0, peak = 0;
  const server = new StreamServer({ hostname: HOST, port: 0 }, async (conn) => {
    const id = (await conn.readLine())!;
    peak = Math.max(peak, ++running);
    const named = getCurrent().name === `conn ${HOST}:${ports.get(id)}`;
    log.push(`start ${id}${named ? "" : " (misnamed)"}`);
    try {
      await gates[Number(id)].wait();
      await conn.write(`bye ${id}\n`);
    } finally {
      running--;
      log.push(`end ${id}`);
    }
  }, { pool: 3 });
  const { port } = await server.start();
  assert.equal(server.addr.port, port);
  const clients: Conn[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const c = await connect({ hostname: HOST, port });
      ports.set(String(i), c.localAddr.port);
      clients.push(c);
      await c.write(`${i}\n`);
      if (i < 3) await until(() => log.length === i + 1);
    }
    await sleep(50); // clients 3–5 connected and wrote: nothing starts them
    assert.deepEqual(log, ["start 0", "start 1", "start 2"]);
    for (const [i, n] of [[1, 5], [0, 7], [4, 9], [2, 10], [3, 11], [5, 12]]) {
      gates[i].set();
      await until(() => log.length === n);
    }
    assert.deepEqual(log, [
      "start 0",
      "start 1",
      "start 2",
      "end 1",
      "start 3",
      "end 0",
      "start 4",
      "end 4",
      "start 5",
      "end 2",
      "end 3",
      "end 5",
    ]);
    assert.equal(peak, 3);
    // each got its answer, then the end of the stream: closed when its
    // handler ended
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(
        [await lineOf(clients[i]), await lineOf(clients[i])],
        [`bye ${i}`, "end of stream"],
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
  await server.finished;
  if (!isDeno) await until(() => tcpResources() <= resourcesBefore);
});

test("StreamServer: stop({ timeout }) mid-traffic — quick handlers finish, the others are killed at the deadline and unwind, nothing after, every connection closed", async () => {
  const resourcesBefore = tcpResources();
  const log: string[] = [];
  let finallies = 0, begun = 0;
  const server = new StreamServer({ hostname: HOST, port: 0 }, async (conn) => {
    begun++;
    const [kind, i] = (await conn.readLine())!.split(" ");
    try {
      if (kind === "quick") {
        // traffic until then: a line every 20 ms
        for (let n = 0; n < 5 + Number(i); n++) {
          await conn.write(`${kind} ${i} tick ${n}\n`);
          await sleep(20);
        }
        log.push(`quick ${i} done`);
      } else {
        await conn.readLine(); // the client never sends it
        log.push(`slow ${i} returned`);
      }
    } catch (e) {
      log.push(
        `${kind} ${i} killed: ${
          e instanceof RequestEnded ? e.reason : String(e)
        }`,
      );
      throw e;
    } finally {
      await shield(() => sleep(5));
      finallies++;
      log.push(`${kind} ${i} finally`);
    }
  });
  const { port } = await server.start();
  const clients: Conn[] = [];
  for (const kind of ["quick", "slow"]) {
    for (let i = 0; i < 3; i++) {
      const c = await connect({ hostname: HOST, port });
      await c.write(`${kind} ${i}\n`);
      clients.push(c);
    }
  }
  // each client reads until its connection closes: lines, then how it ended
  const received = clients.map(async (c) => {
    let lines = 0;
    for (;;) {
      const l = await lineOf(c);
      if (l === "end of stream" || l === "reset") return `${lines} lines, ${l}`;
      lines++;
    }
  });
  await until(() => begun === 6);
  const errors = await errorsOf(async () => {
    const stopped = server.stop({ timeout: 300 }).then(() =>
      log.push("stopped")
    );
    const late = await connect({ hostname: HOST, port }).then(
      (c) => c.close().then(() => "accepted"),
      () => "refused",
    );
    log.push(`late client ${late}`);
    await stopped;
    await server.finished;
    await sleep(30); // nothing happens after
  });
  assert.deepEqual(errors, []); // kills are silent
  assert.deepEqual(log, [
    "late client refused",
    "quick 0 done",
    "quick 0 finally",
    "quick 1 done",
    "quick 1 finally",
    "quick 2 done",
    "quick 2 finally",
    "slow 0 killed: stopped",
    "slow 1 killed: stopped",
    "slow 2 killed: stopped",
    "slow 0 finally",
    "slow 1 finally",
    "slow 2 finally",
    "stopped",
  ]);
  assert.equal(finallies, 6);
  const ends = await Promise.all(received);
  assert.deepEqual(ends.slice(0, 3), [
    "5 lines, end of stream",
    "6 lines, end of stream",
    "7 lines, end of stream",
  ]);
  for (const e of ends.slice(3)) {
    assert.match(e, /^0 lines, (end of stream|reset)$/);
  }
  await Promise.all(clients.map((c) => c.close()));
  if (!isDeno) await until(() => tcpResources() <= resourcesBefore);
});

test("StreamServer: a handler's failure is reported once and its connection closed; the server goes on", async () => {
  await capturingErrors(async (errors) => {
    await using server = new StreamServer(
      { hostname: HOST, port: 0 },
      async (conn) => {
        const line = await conn.readLine();
        if (line === "boom") throw new Error("boom");
        await conn.write(`ok ${line}\n`);
      },
    );
    const { port } = await server.start();
    await using bad = await connect({ hostname: HOST, port });
    await bad.write("boom\n");
    assert.equal(await lineOf(bad), "end of stream");
    await using good = await connect({ hostname: HOST, port });
    await good.write("x\n");
    assert.equal(await lineOf(good), "ok x");
    assert.deepEqual(errors, [
      `conn ${HOST}:${bad.localAddr.port}: Error: boom`,
    ]);
  });
});

test("StreamServer: argument errors are thrown at once; a port in use rejects start()", async () => {
  const h = () => {};
  assert.throws(
    () => new StreamServer({ port: 0 }, 5 as unknown as () => void),
    TypeError,
  );
  assert.throws(
    () => new StreamServer({ port: 70000 }, h),
    /^RangeError: Cannot create StreamServer: port must be an integer from 0 to 65535, received 70000$/,
  );
  assert.throws(
    () => new StreamServer({ hostname: "", port: 0 }, h),
    /^TypeError: Cannot create StreamServer: hostname must be a non-empty string/,
  );
  assert.throws(
    () => new StreamServer({ port: 0 }, h, { pool: 0 }),
    RangeError,
  );
  assert.throws(
    () => new StreamServer({ port: 0 }, h, { timeout: 5 } as never),
    TypeError,
  );
  await using first = new StreamServer({ hostname: HOST, port: 0 }, h);
  const { port } = await first.start();
  const second = new StreamServer({ hostname: HOST, port }, h);
  await assert.rejects(second.start(), /EADDRINUSE|in use/i);
  await second.stop();
  await second.finished;
});

test("StreamServer: the chat server (testdata/stream_chat.ts), 200 clients × 20 messages — per-sender order at every receiver, none twice; a stop mid-broadcast kills and unwinds every handler and closes everything", async () => {
  const { code, stdout, output } = await runFixture("stream_chat", {
    deno: ["--allow-net=127.0.0.1"],
  });
  assert.equal(code, 0, output); // it ended by itself: nothing left open
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "200 clients joined",
    "round 1: 4000 messages, 800000 deliveries; every receiver got every sender's 20 in order, none twice: true",
    "round 2: stopped mid-broadcast (after 1000+ messages): 200 handlers killed, 200 finally blocks, 0 dropped, 0 clients left, 0 errors reported",
    "round 2: 200 connections ended by the server; what arrived is in order, none twice: true; fewer than all: true",
    "open TCP handles: 0",
  ]);
});

test("StreamServer: connections waiting for a pool slot when the server stops are closed unserved; the running handler is killed and unwinds", async () => {
  const resourcesBefore = tcpResources();
  const log: string[] = [];
  const pool = new Pool(1);
  const server = new StreamServer({ hostname: HOST, port: 0 }, async (conn) => {
    const id = await conn.readLine();
    log.push(`start ${id}`);
    try {
      await conn.readLine(); // never comes
    } finally {
      await shield(() => sleep(5));
      log.push(`finally ${id}`);
    }
  }, { pool });
  const { port } = await server.start();
  const clients: Conn[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await connect({ hostname: HOST, port });
    await c.write(`${i}\n`);
    clients.push(c);
    if (i === 0) await until(() => log.length === 1);
  }
  await sleep(30); // 1 and 2 wait for the slot
  assert.equal(pool.size, 1);
  await server.stop({ timeout: 0 });
  log.push("stopped");
  assert.deepEqual(log, ["start 0", "finally 0", "stopped"]);
  assert.equal(pool.size, 0);
  for (const c of clients) {
    assert.match(await lineOf(c), /^(end of stream|reset)$/);
  }
  await Promise.all(clients.map((c) => c.close()));
  if (!isDeno) await until(() => tcpResources() <= resourcesBefore);
});
