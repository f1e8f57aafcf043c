/**
 * The HTTP servers' load benchmark (issue 23): `deno task bench:http
 * [--quick] [--duration S] [--rounds N] [--only a,b] [--write | --no-write]`.
 *
 * Each target is a server process of its own (`bench/http_target.ts`, on
 * Deno from the sources, on Node from the built npm package) loaded by
 * autocannon (a dev dependency, in a Node process of its own) over
 * loopback: 100 connections, 10 s a round, three rounds in the same server
 * process after a 2 s warm-up, its RSS read after each round; the rounds go
 * round-robin over the targets (round 1 of each, then round 2, …), so a slow
 * minute of the shared machine does not fall on one target alone. Every target
 * runs the same handler (a 1 ms timer, then a small JSON body): bare
 * `Deno.serve` / bare `node:http`, and through `greenletHandler`, `serve()`
 * and `greenletListener`. Then the fan-out: 50 connections, three backend
 * calls per request (a loopback backend answering in 17–82 ms) under a
 * 150 ms deadline (504 past it), with plain promises, a per-request `Group`
 * under a shared `Semaphore(60)`, and a shared `Pool(60).map`.
 *
 * It writes its tables into BENCHMARKS.md between the `bench:http` markers
 * (`bench:compare` keeps that section when it rewrites the file) unless
 * `--quick`, `--only` or `--no-write` is given (`--write` forces it).
 *
 * @module
 */
import * as esbuild from "esbuild";

const ROOT = new URL("../", import.meta.url).pathname;
const decoder = new TextDecoder();
const argv = [...Deno.args];
const flag = (name: string) => argv.includes(name);
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}
if (flag("--help")) {
  console.log(
    "deno task bench:http [--quick] [--duration S] [--rounds N] [--only a,b] [--write | --no-write]",
  );
  Deno.exit(0);
}
const quick = flag("--quick");
const DURATION = Number(option("--duration") ?? (quick ? 2 : 10));
const ROUNDS = Number(option("--rounds") ?? (quick ? 1 : 3));
const only = option("--only")?.split(",");
const write = flag("--write") ||
  (!flag("--no-write") && !quick && only === undefined);

interface Target {
  name: string;
  runtime: "deno" | "node";
  how: string;
  bare: string | null; // the target it is compared with
}

const LOAD: Target[] = [
  {
    name: "deno-bare",
    runtime: "deno",
    how: "`Deno.serve(handler)`",
    bare: null,
  },
  {
    name: "deno-greenletHandler",
    runtime: "deno",
    how: "`Deno.serve(greenletHandler(handler))`",
    bare: "deno-bare",
  },
  {
    name: "deno-serve",
    runtime: "deno",
    how: "`serve(handler)`",
    bare: "deno-bare",
  },
  {
    name: "deno-serve-sleep",
    runtime: "deno",
    how: "`serve(handler)`, the 1 ms waited by the hub's `sleep(1)`",
    bare: "deno-bare",
  },
  {
    name: "node-bare",
    runtime: "node",
    how: "`http.createServer((req, res) => …)`",
    bare: null,
  },
  {
    name: "node-greenletListener",
    runtime: "node",
    how: "`http.createServer(greenletListener((req, res) => …))`",
    bare: "node-bare",
  },
  {
    name: "node-hono-bare",
    runtime: "node",
    how: "`getRequestListener(handler)` (@hono/node-server, no greenlets)",
    bare: "node-bare",
  },
  {
    name: "node-serve",
    runtime: "node",
    how: "`serve(handler)` (node:http + @hono/node-server)",
    bare: "node-bare",
  },
  {
    name: "node-serve-sleep",
    runtime: "node",
    how: "`serve(handler)`, the 1 ms waited by the hub's `sleep(1)`",
    bare: "node-bare",
  },
];

const FANOUT: Target[] = [
  {
    name: "fanout-promises",
    runtime: "deno",
    how: "plain promises, `AbortSignal.timeout(150)`",
    bare: null,
  },
  {
    name: "fanout-semaphore",
    runtime: "deno",
    how:
      "per-request `Group` under a shared `Semaphore(60)`, `withTimeout(150)`",
    bare: null,
  },
  {
    name: "fanout-pool",
    runtime: "deno",
    how: "a shared `Pool(60).map`, `withTimeout(150)`",
    bare: null,
  },
];

interface Round {
  rps: number;
  p99: number;
  p50: number;
  requests: number;
  errors: number;
  non2xx: number;
  status504: number;
  rssMiB: number;
  cpuUs: number; // server CPU time per request, µs
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function nodeTarget(): Promise<string> {
  const out = `${ROOT}bench/.http_target.mjs`;
  await esbuild.build({
    entryPoints: [`${ROOT}bench/http_target.ts`],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    external: ["../mod.ts", "../server.ts"],
    packages: "external",
    logLevel: "warning",
  });
  await esbuild.stop();
  return out;
}

async function ensureBuilt(): Promise<void> {
  const built = await Deno.stat(`${ROOT}npm/esm/server.js`).catch(() => null);
  const src = await Deno.stat(`${ROOT}server.ts`);
  if (built?.mtime && src.mtime && built.mtime >= src.mtime) return;
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["task", "build"],
    cwd: ROOT,
  }).output();
  if (!p.success) throw new Error(decoder.decode(p.stderr));
}

interface Proc {
  child: Deno.ChildProcess;
  port: number;
}

async function start(
  t: Target,
  nodeFile: string,
  backendPort?: number,
): Promise<Proc> {
  const port = freePort();
  const extra = backendPort === undefined ? [] : [String(backendPort)];
  const cmd = t.runtime === "deno"
    ? new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-env",
        "--unstable-no-legacy-abort",
        `${ROOT}bench/http_target.ts`,
        t.name,
        String(port),
        "-",
        ...extra,
      ],
      stdout: "piped",
      stderr: "inherit",
    })
    : new Deno.Command("node", {
      args: [nodeFile, t.name, String(port), `${ROOT}npm/esm`, ...extra],
      stdout: "piped",
      stderr: "inherit",
    });
  const child = cmd.spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${t.name} exited before listening`);
    text += decoder.decode(value);
  }
  reader.releaseLock();
  void child.stdout.cancel();
  return { child, port };
}

async function stopProc(p: Proc): Promise<void> {
  try {
    p.child.kill("SIGKILL");
  } catch { /* gone */ }
  await p.child.status;
}

/** The process's user + system CPU time, ms (from /proc, through `cat`). */
async function cpuMs(pid: number): Promise<number> {
  const p = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
  }).output();
  const fields = decoder.decode(p.stdout).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
}

async function rss(pid: number): Promise<number> {
  const p = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  }).output();
  return Number(decoder.decode(p.stdout).trim()) / 1024; // ps: KiB
}

async function cannon(
  port: number,
  connections: number,
  seconds: number,
): Promise<Omit<Round, "rssMiB" | "cpuUs">> {
  const p = await new Deno.Command("node", {
    args: [
      `${ROOT}node_modules/autocannon/autocannon.js`,
      "-c",
      String(connections),
      "-d",
      String(seconds),
      "-j",
      `http://127.0.0.1:${port}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!p.success) throw new Error(decoder.decode(p.stderr));
  const r = JSON.parse(decoder.decode(p.stdout));
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    p50: r.latency.p50,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    status504: r.statusCodeStats?.["504"]?.count ?? 0,
  };
}

/**
 * Runs `targets` round-robin (round 1 of each, then round 2, …) so that the
 * machine's slow minutes spread over all of them; each target keeps its one
 * server process (RSS across rounds), idle while the others are loaded.
 */
async function runTargets(
  targets: Target[],
  nodeFile: string,
  connections: number,
  results: Map<string, Round[]>,
  backendPort?: number,
): Promise<void> {
  const procs: Proc[] = [];
  try {
    for (const t of targets) {
      const proc = await start(t, nodeFile, backendPort);
      procs.push(proc);
      await cannon(proc.port, connections, Math.min(2, DURATION)); // warm-up
      results.set(t.name, []);
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const [j, t] of targets.entries()) {
        const proc = procs[j];
        const cpu0 = await cpuMs(proc.child.pid);
        const r = await cannon(proc.port, connections, DURATION);
        const cpuUs = (await cpuMs(proc.child.pid) - cpu0) * 1000 /
          Math.max(1, r.requests);
        const round = { ...r, cpuUs, rssMiB: await rss(proc.child.pid) };
        results.get(t.name)!.push(round);
        console.error(
          `${t.name} round ${i + 1}: ${
            r.rps.toFixed(0)
          } req/s, p99 ${r.p99} ms, ` +
            `${r.errors} errors, ${r.non2xx} non-2xx, ${
              cpuUs.toFixed(0)
            } µs CPU/request, RSS ${round.rssMiB.toFixed(1)} MiB`,
        );
      }
    }
  } finally {
    for (const p of procs) await stopProc(p);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const k = (n: number) =>
  n >= 1000 ? `${(n / 1000).toFixed(1)} k/s` : `${n.toFixed(0)}/s`;

function loadTable(results: Map<string, Round[]>): string {
  const rows = [
    "| target | how | req/s (median) | p99 ms (median) | errors | non-2xx | throughput vs bare | p99 vs bare | server CPU per request | RSS after each round (MiB) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const t of LOAD) {
    const r = results.get(t.name);
    if (r === undefined) continue;
    const rps = median(r.map((x) => x.rps));
    const p99 = median(r.map((x) => x.p99));
    const base = t.bare === null ? undefined : results.get(t.bare);
    const ratio = base === undefined
      ? ""
      : `${(rps / median(base.map((x) => x.rps))).toFixed(2)}×`;
    const p99r = base === undefined
      ? ""
      : `${(p99 / median(base.map((x) => x.p99))).toFixed(2)}×`;
    rows.push(
      `| ${t.name} | ${t.how} | ${k(rps)} | ${p99} | ${
        sum(r.map((x) => x.errors))
      } | ${sum(r.map((x) => x.non2xx))} | ${ratio} | ${p99r} | ${
        median(r.map((x) => x.cpuUs)).toFixed(0)
      } µs | ${r.map((x) => x.rssMiB.toFixed(0)).join(" → ")} |`,
    );
  }
  return rows.join("\n");
}

function fanoutTable(results: Map<string, Round[]>): string {
  const rows = [
    "| fan-out | how | req/s (median) | p50 ms | p99 ms | 504s (all rounds) | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const t of FANOUT) {
    const r = results.get(t.name);
    if (r === undefined) continue;
    const total = sum(r.map((x) => x.requests));
    const g = sum(r.map((x) => x.status504));
    rows.push(
      `| ${t.name} | ${t.how} | ${k(median(r.map((x) => x.rps)))} | ${
        median(r.map((x) => x.p50))
      } | ${median(r.map((x) => x.p99))} | ${
        (100 * g / Math.max(1, total)).toFixed(1)
      } % (${g} of ${total}) | ${sum(r.map((x) => x.errors))} |`,
    );
  }
  return rows.join("\n");
}

await ensureBuilt();
const nodeFile = await nodeTarget();
const results = new Map<string, Round[]>();
const want = (t: Target) => only === undefined || only.includes(t.name);
await runTargets(LOAD.filter(want), nodeFile, 100, results);
if (FANOUT.some(want)) {
  const backend = await start(
    { name: "backend", runtime: "node", how: "", bare: null },
    nodeFile,
  );
  try {
    await runTargets(FANOUT.filter(want), nodeFile, 50, results, backend.port);
  } finally {
    await stopProc(backend);
  }
}
await Deno.remove(nodeFile).catch(() => {});

const deno = Deno.version.deno;
const node = decoder.decode(
  (await new Deno.Command("node", { args: ["--version"] }).output()).stdout,
).trim();
const section =
  `<!-- bench:http begin (written by \`deno task bench:http\`, bench/http.ts; bench:compare keeps it) -->

## HTTP servers under load (issue 23)

autocannon ${
    JSON.parse(
      await Deno.readTextFile(`${ROOT}node_modules/autocannon/package.json`),
    ).version
  } over loopback, ${DURATION} s a round, ${ROUNDS} rounds round-robin over the
targets (each in one server process, after a warm-up), 100 connections; Deno ${deno}, Node ${node}. Every target
runs the same handler (a 1 ms timer as a raw promise, then a 32-byte JSON
body; the \`-sleep\` rows wait it with the hub's \`sleep(1)\`); "vs bare"
divides by bare \`Deno.serve\` or bare \`node:http\` on the same runtime
(throughput: above 1× is faster; p99: below 1× is faster). The load generator
and the server share the machine's two cores.

${loadTable(results)}

### Fan-out: three backend calls per request under a 150 ms deadline

50 connections, ${DURATION} s a round, ${ROUNDS} rounds, on Deno through
\`serve()\`; the backend (a loopback node:http process) answers each call in
17–82 ms (a fixed cycle); a request whose three calls miss the deadline is
answered 504.

${fanoutTable(results)}

<!-- bench:http end -->`;

console.log(section);
if (write) {
  const path = `${ROOT}BENCHMARKS.md`;
  const old = await Deno.readTextFile(path);
  const re = /<!-- bench:http begin[\s\S]*<!-- bench:http end -->/;
  const next = re.test(old)
    ? old.replace(re, section)
    : `${old.trimEnd()}\n\n${section}\n`;
  await Deno.writeTextFile(path, next);
  console.error("wrote the bench:http section of BENCHMARKS.md");
}
