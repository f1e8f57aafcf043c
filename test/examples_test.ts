import assert from "node:assert/strict";
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { get as httpGet } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import process from "node:process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TraceEvent } from "../mod.ts";
import { type ProcessResult, runProcess, test } from "./test_adapter.ts";

/** The Deno executable running this test. */
function denoPath(): string {
  return (globalThis as unknown as { Deno: { execPath(): string } }).Deno
    .execPath();
}

/**
 * Runs `examples/<file>` with Deno (`deno run --quiet <flags> … <args>`);
 * resolves with its exit code, stdout, stderr.
 */
function runWith(
  flags: string[],
  file: string,
  ...args: string[]
): Promise<ProcessResult> {
  return runProcess(denoPath(), [
    "run",
    "--quiet",
    ...flags,
    `examples/${file}`,
    ...args,
  ]);
}

/** Runs an example with loopback network access (as `npm start` does). */
function run(file: string, ...args: string[]): Promise<ProcessResult> {
  return runWith(
    [
      "--allow-net=127.0.0.1",
      "--unstable-no-legacy-abort", // Deno.serve's notice about req.signal
    ],
    file,
    ...args,
  );
}

const line = (name: string, i: number) => `function:@@@${name} | NUM: @@@ ${i}`;
const alternating = [0, 1, 2, 3, 4].flatMap((
  i,
) => [line("f1", i), line("f2", i)]);

async function expectLines(file: string, expected: string[]): Promise<void> {
  const { code, stdout, stderr } = await run(file);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.deepEqual(stdout.trimEnd().split("\n"), expected);
}

test(
  "examples/13_threadpool.ts: 200 MiB hashed in a ThreadPool keeps the ticks on time; on the hub it stalls them and the monitor names the greenlet",
  async () => {
    const { code, stdout, stderr } = await runWith(
      ["--allow-read"],
      "13_threadpool.ts",
    );
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines.length, 5, stdout);
    assert.equal(
      lines[0],
      "200 MiB hashed (SHA-256, 25 chunks) while a greenlet ticks every 10 ms:",
    );
    const run =
      /^(?:in a ThreadPool:|on the hub: {6}) +\d+ ms, +(\d+) ticks?, worst lag (\d+) ms$/;
    const [, poolTicks, poolLag] = lines[1].match(run) ?? assert.fail(lines[1]);
    const [, hubTicks, hubLag] = lines[2].match(run) ?? assert.fail(lines[2]);
    assert.ok(lines[1].startsWith("in a ThreadPool:"));
    assert.ok(lines[2].startsWith("on the hub:"));
    // the pool's run ticks on; the hub's stalls: ratios, no thresholds
    assert.ok(Number(hubLag) > Number(poolLag), stdout);
    assert.ok(Number(poolTicks) > Number(hubTicks), stdout);
    assert.equal(lines[3], "same digest: true (c6a8df7f726fad16…)");
    // the monitor's one report: the hub's run, never the pool's
    assert.match(
      lines[4],
      /^monitor: <Greenlet "hashOnHub" #\d+: hashOnHub\(\)> blocked the hub for \d+ ms \(spawned at 13_threadpool\.ts:\d+:\d+\)$/,
    );
  },
  { denoOnly: true },
);

test("examples/01_switch.ts alternates f1/f2", async () => {
  await expectLines("01_switch.ts", alternating);
}, { denoOnly: true });

test("examples/02_blocking.ts runs serially: f1 0…4 then f2 0…4", async () => {
  await expectLines("02_blocking.ts", [
    ...[0, 1, 2, 3, 4].map((i) => line("f1", i)),
    ...[0, 1, 2, 3, 4].map((i) => line("f2", i)),
  ]);
}, { denoOnly: true });

test("examples/03_cooperative.ts interleaves like program 1", async () => {
  await expectLines("03_cooperative.ts", alternating);
}, { denoOnly: true });

test(
  "examples/12_retry.ts: retries with back-off; an attempt's timeout is told from an undefined answer and from the job's budget",
  async () => {
    await expectLines("12_retry.ts", [
      "[   0 ms] job 1: download, retried",
      "[ 100 ms]   attempt 1 timed out; retrying in 50 ms",
      "[ 170 ms]   attempt 2 failed: 503 Service Unavailable; retrying in 100 ms",
      "[ 570 ms] job 1 got chunk0,chunk1,chunk2,chunk3,chunk4",
      "[ 570 ms] job 2: a lookup that may return undefined, retried",
      "[ 670 ms]   attempt 1 timed out; retrying in 50 ms",
      "[ 730 ms] job 2 got undefined (an answer, not a timeout)",
      "[ 730 ms] job 3: the same download under a 250 ms budget",
      "[ 830 ms]   attempt 1 timed out; retrying in 50 ms",
      "[ 900 ms]   attempt 2 failed: 503 Service Unavailable; retrying in 100 ms",
      "[ 980 ms] job 3 ran out of its 250 ms budget mid-attempt: no retry",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/04_fetch.ts prints each URL in completion order, with its own server",
  async () => {
    const { code, stdout, stderr } = await run("04_fetch.ts");
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().replace(
      /127\.0\.0\.1:\d+/g,
      "127.0.0.1:PORT",
    )
      .split("\n");
    assert.deepEqual(lines, [
      "URL:http://127.0.0.1:PORT/fast | CODE:200!",
      "URL:http://127.0.0.1:PORT/medium | CODE:200!",
      "URL:http://127.0.0.1:PORT/slow | CODE:200!",
    ]);
  },
  { denoOnly: true },
);

const SEMAPHORE_LINES = [
  line("f1", 0),
  line("f2", 0),
  line("f1", 1),
  line("f1", 2),
  line("f2", 1),
  line("f1", 3),
  line("f1", 4),
  line("f2", 2),
  line("f2", 3),
  line("f2", 4),
];

test("examples/05_semaphore.ts prints the tutorial's order", async () => {
  await expectLines("05_semaphore.ts", SEMAPHORE_LINES);
}, { denoOnly: true });

test(
  "examples/09_trace.ts: program 5's output, and its trace: a track per greenlet, their waits and who woke them",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "gevent-example-trace-"));
    try {
      const path = join(dir, "trace.json");
      const { code, stdout, stderr } = await runWith(
        [`--allow-write=${dir}`],
        "09_trace.ts",
        path,
      );
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      assert.deepEqual(stdout.trimEnd().split("\n"), [
        ...SEMAPHORE_LINES,
        `trace written to ${path} (open it in Perfetto: ui.perfetto.dev → Open trace file)`,
      ]);
      const { traceEvents } = JSON.parse(readFileSync(path, "utf8")) as {
        traceEvents: TraceEvent[];
      };
      const names = new Map(
        traceEvents.filter((e) => e.name === "thread_name").map((
          e,
        ) => [e.tid, String(e.args?.name)]),
      );
      assert.deepEqual([...names.values()].sort(), ["f1", "f2", "main"]);
      const waits = traceEvents.filter((e) => e.cat === "wait").map((e) =>
        `${names.get(e.tid)}: ${e.name}${
          e.args?.timeout === undefined ? "" : ` ${e.args.timeout} ms`
        } (${String(e.args?.wokenBy).replace(/ #\d+: \w+\(\)/, "")})`
      );
      // in time order: each greenlet sleeps after each line it prints, in
      // the lines' order; acquire, print and release run in one slice (a
      // greenlet runs alone between switch points), so no one ever waits
      // for the permit, whatever real time does
      const sleeps = SEMAPHORE_LINES.map((l) =>
        l.includes("f1")
          ? "f1: sleep 100 ms (timer)"
          : "f2: sleep 300 ms (timer)"
      );
      assert.deepEqual(waits, [
        'main: joinAll of 2 greenlets (0 done) (<Greenlet "f2">)',
        ...sleeps,
      ]);
      // each run is a slice; f1 and f2 take turns, never at once
      const runs = traceEvents.filter((e) => e.cat === "run");
      for (const tid of [...names.keys()]) {
        assert.ok(runs.some((e) => e.tid === tid));
      }
      // (in whole nanoseconds, as the trace keeps time: no float sums)
      const ns = (us: number) => Math.round(us * 1000);
      const sorted = [...runs].sort((a, b) => a.ts - b.ts);
      for (let i = 1; i < sorted.length; i++) {
        const prev = sorted[i - 1];
        assert.ok(
          ns(sorted[i].ts) >= ns(prev.ts) + ns(prev.dur!),
          "one run at a time",
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { denoOnly: true },
);

test(
  "examples/02_blocking.ts --monitor names f1 and f2 as the blockers",
  async () => {
    const { code, stdout, stderr } = await run("02_blocking.ts", "--monitor");
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trimEnd().split("\n").length, 10);
    const reports = stderr.trimEnd().split("\n").map((l) =>
      l.replace(/for \d+\.\d ms/, "for N ms")
        .replace(/file:\/\/\/\S+\/examples\//, "examples/")
    );
    // each ran from its start to its end without a switch point
    assert.deepEqual(reports, [
      'gevent-ts monitor: <Greenlet "f1" #1: f1()> blocked the hub for N ms (max 100 ms), from its start until it ended; spawned at examples/02_blocking.ts:51:16',
      'gevent-ts monitor: <Greenlet "f2" #2: f2()> blocked the hub for N ms (max 100 ms), from its start until it ended; spawned at examples/02_blocking.ts:51:27',
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/08_kill_fetch.ts: kill and withTimeout abort the request on the server too",
  async () => {
    await expectLines("08_kill_fetch.ts", [
      "server: /slow arrived, not answering",
      "fetcher: request ended by GreenletExit",
      'main: killed <Greenlet "fetcher" #1: fetcher()>',
      "server: /slow closed by the client",
      "server: /slow arrived, not answering",
      "bounded: Timeout after 100 ms",
      "server: /slow closed by the client",
      "bounded: next request still works: 200 fast",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/06_producer_consumer.ts: the producer waits while 3 jobs are queued",
  async () => {
    await expectLines("06_producer_consumer.ts", [
      // the producer runs alone until the full queue parks it (gevent's
      // order: a put that does not block does not switch)
      "producer: put job 1",
      "producer: put job 2",
      "producer: put job 3",
      "producer: queue full (3), waits with job 4",
      "  consumer A: working on job 1",
      "  consumer B: working on job 2",
      "producer: put job 4",
      "producer: put job 5",
      "producer: queue full (3), waits with job 6",
      "  consumer A: working on job 3",
      "  consumer B: working on job 4",
      "producer: put job 6",
      "producer: put job 7",
      "producer: queue full (3), waits with job 8",
      "  consumer A: working on job 5",
      "  consumer B: working on job 6",
      "producer: put job 8",
      "producer: done, queue closed",
      "  consumer A: working on job 7",
      "  consumer B: working on job 8",
      "  consumer A: no more jobs",
      "  consumer B: no more jobs",
      "all 8 jobs done: A did 4, B did 4; never more than 3 queued",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/07_crawler.ts: a Pool(4) crawls its own 30-page site, four fetches at a time",
  async () => {
    const { code, stdout, stderr } = await run("07_crawler.ts");
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const lines = stdout.trimEnd().split("\n");
    const summary = lines.pop()!;
    assert.match(
      summary,
      /^crawled 30 pages: 29 fetched, 1 timed out, peak concurrency 4 \(Pool\(4\)\), \d+ ms$/,
    );
    // in the order the paths were pulled: a breadth-first walk from "/"
    const links = (n: number) => n === 0 ? 5 : n <= 4 ? 6 : n === 5 ? 5 : 2;
    assert.deepEqual(
      lines,
      Array.from({ length: 30 }, (_, n) => {
        const path = n === 0 ? "/" : `/page/${n}`;
        return n === 13
          ? `[${n + 1}] ${path} -> timeout after 500 ms`
          : `[${n + 1}] ${path} -> 200, ${links(n)} links`;
      }),
    );
  },
  { denoOnly: true },
);

test(
  "examples/10_http_server.ts: a JSON API fans out under deadlines, caps its handlers, answers 503 on overrun, stops",
  async () => {
    await expectLines("10_http_server.ts", [
      'GET /api/profile/7 -> 200 {"user":{"kind":"users","id":7},"orders":{"kind":"orders","id":7},"recommendations":null}',
      "40 concurrent requests -> 40 answered 200 with user and orders, recommendations timed out (null)",
      "handlers at once: at most 10 (the pool's cap)",
      "GET /api/profile/9?stall=1 -> 503 Service Unavailable: the handler ran over 1000 ms",
      "stopped: 0 handlers left running",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/11_chat_server.ts: a TCP chat on StreamServer — everyone sees every message in order, a lurker is dropped, the flooder gets all back, it stops",
  async () => {
    const others = [
      "alice: hi",
      "bob: hello alice",
      "carol: hey both",
      "alice: bye",
    ].join(" | ");
    await expectLines("11_chat_server.ts", [
      `alice saw: * alice joined | * bob joined | * carol joined | ${others}`,
      `bob saw: * bob joined | * carol joined | ${others}`,
      `carol saw: * carol joined | ${others}`,
      "server: lurker dropped, 16 batches behind",
      "flooder: all 600 of its 32 KB messages came back",
      "lurker: its connection ended after some of the flood",
      "server stopped: 0 clients left",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/http_express.ts: Express through greenletListener — a greenlet per request, a quiet abort, 503 on overrun",
  async () => {
    const { code, stdout, stderr } = await runWith(
      ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"],
      "http_express.ts",
    );
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.deepEqual(stdout.trimEnd().split("\n"), [
      'GET /users/7 -> 200 {"id":7,"greenlet":"GET /users/7"}',
      "GET /report -> the client went away (AbortError)",
      "  its greenlet was killed quietly; finally ran after a kill: true",
      "GET /slow -> 503 Service Unavailable: the handler ran over 200 ms",
      "closed",
    ]);
  },
  { denoOnly: true },
);

test(
  "examples/http_hono.ts: Hono through serve() — onError sees the failure, never the abort or the overrun",
  async () => {
    await expectLines("http_hono.ts", [
      'GET /users/7 -> 200 {"id":7,"greenlet":"GET /users/7"}',
      "GET /report -> the client went away (AbortError)",
      'GET /boom -> 500 {"error":"boom"}',
      "GET /slow -> 503 Service Unavailable: the handler ran over 200 ms",
      `Hono's onError saw: ["boom"]`,
      "hub.handleError reported: []",
    ]);
  },
  { denoOnly: true },
);

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** GET over a connection of its own (no keep-alive): the body as text. */
function getFresh(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

/** Starts `cmd`, resolves once its output contains `ready`. */
async function startUntil(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  ready: string,
): Promise<
  { child: ChildProcess; output: () => string; exit: Promise<number> }
> {
  const child = spawnChild(cmd, args, {
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let output = "";
  const exit = new Promise<number>((r) =>
    child.on("close", (code) => r(code ?? -1))
  );
  await new Promise<void>((resolve, reject) => {
    const seen = (d: unknown) => {
      output += d;
      if (output.includes(ready)) resolve();
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    void exit.then(() =>
      reject(new Error(`exited before "${ready}":\n${output}`))
    );
  });
  return { child, output: () => output, exit };
}

test(
  "examples/serve_parallel.ts: deno serve --parallel spreads connections over its workers, a greenlet per request in each",
  async () => {
    const port = await freePort();
    const server = await startUntil(
      denoPath(),
      [
        "serve",
        "--parallel",
        "--allow-net=127.0.0.1,0.0.0.0",
        "--unstable-no-legacy-abort",
        "--port",
        String(port),
        "examples/serve_parallel.ts",
      ],
      { DENO_JOBS: "2" },
      "with 2 threads",
    );
    try {
      const workers = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const body = JSON.parse(
          await getFresh(`http://127.0.0.1:${port}/r/${i}`),
        );
        assert.equal(body.greenlet, `GET /r/${i}`);
        workers.add(body.worker);
      }
      assert.equal(workers.size, 2, server.output());
    } finally {
      server.child.kill("SIGTERM");
      await server.exit;
    }
  },
  { denoOnly: true },
);

test(
  "examples/node_cluster.mjs: node:cluster workers share the port round-robin, each with its own hub; SIGTERM stops them all",
  async () => {
    const port = await freePort();
    const server = await startUntil(
      "node",
      ["examples/node_cluster.mjs"],
      { PORT: String(port), WORKERS: "2" },
      `listening on ${port} with 2 workers`,
    );
    const pids: number[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const body = JSON.parse(
          await getFresh(`http://127.0.0.1:${port}/r/${i}`),
        );
        assert.equal(body.greenlet, `GET /r/${i}`);
        pids.push(body.pid);
      }
    } finally {
      server.child.kill("SIGTERM");
    }
    await server.exit; // (Deno's child_process reports the signal sent as the exit)
    assert.equal(
      server.output(),
      `listening on ${port} with 2 workers\nevery worker stopped\n`,
    );
    // the primary hands connections out in turn
    assert.equal(new Set(pids).size, 2);
    assert.deepEqual(pids.slice(2), [...pids.slice(0, 2), ...pids.slice(0, 2)]);
  },
  { denoOnly: true },
);
