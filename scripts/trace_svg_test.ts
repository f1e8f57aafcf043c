/**
 * scripts/trace_svg.ts draws the same bytes for the same trace, whatever
 * the order of its events: a row per greenlet, a rectangle per run, a
 * labelled bar per wait, an arrow per wake-up; its command line writes what
 * `renderTraceSvg` returns. (Deno only: it is a development script.)
 */
import assert from "node:assert/strict";
import type { TraceEvent } from "../mod.ts";
import { runProcess, test } from "../test/test_adapter.ts";
import { renderTraceSvg } from "./trace_svg.ts";

const meta = (
  name: string,
  tid: number,
  args: Record<string, string | number>,
): TraceEvent => ({
  ph: "M",
  cat: "__metadata",
  name,
  ts: 0,
  pid: 1,
  tid,
  args,
});
const slice = (
  tid: number,
  cat: "run" | "wait",
  name: string,
  ts: number,
  dur: number,
  args?: TraceEvent["args"],
): TraceEvent => ({
  ph: "X",
  cat,
  name,
  ts,
  dur,
  pid: 1,
  tid,
  ...(args === undefined ? {} : { args }),
});

/** A fixed trace: main spawns a worker, which sleeps and wakes main. */
const TRACE: TraceEvent[] = [
  meta("process_name", 0, { name: "gevent-ts hub" }),
  meta("thread_name", 0, { name: "main" }),
  meta("thread_sort_index", 0, { sort_index: 0 }),
  meta("thread_name", 1, { name: "worker" }),
  meta("thread_sort_index", 1, { sort_index: 1 }),
  slice(0, "run", "run", 1000, 50),
  { ph: "s", cat: "spawn", name: "spawn", ts: 1020, pid: 1, tid: 0, id: 1 },
  slice(0, "wait", 'join of <Greenlet "worker" #1: worker()>', 1050, 100_200, {
    wokenBy: '<Greenlet "worker" #1: worker()>',
  }),
  slice(1, "run", "run", 1100, 30),
  {
    ph: "f",
    cat: "spawn",
    name: "spawn",
    ts: 1100,
    pid: 1,
    tid: 1,
    id: 1,
    bp: "e",
  },
  slice(1, "wait", "sleep", 1130, 100_000, { wokenBy: "timer", timeout: 100 }),
  slice(1, "run", "run", 101_130, 120),
  { ph: "s", cat: "wake", name: "wake", ts: 101_250, pid: 1, tid: 1, id: 2 },
  slice(0, "run", "run", 101_300, 40.5),
  {
    ph: "f",
    cat: "wake",
    name: "wake",
    ts: 101_300,
    pid: 1,
    tid: 0,
    id: 2,
    bp: "e",
  },
];

test("trace_svg: the same trace, in any order, draws the same bytes", () => {
  const svg = renderTraceSvg(TRACE, { title: "fixed" });
  assert.equal(renderTraceSvg(TRACE, { title: "fixed" }), svg);
  assert.equal(renderTraceSvg([...TRACE].reverse(), { title: "fixed" }), svg);
  const shuffled = TRACE.map((e, i) => [(i * 7) % TRACE.length, e] as const)
    .sort((a, b) => a[0] - b[0]).map(([, e]) => e);
  assert.equal(renderTraceSvg(shuffled, { title: "fixed" }), svg);
});

test("trace_svg: a row per greenlet, a rectangle per run, labelled waits, an arrow per wake-up", () => {
  const svg = renderTraceSvg(TRACE, { title: "fixed <trace>" });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" '));
  assert.ok(svg.endsWith("</svg>\n"));
  assert.ok(svg.includes(">fixed &lt;trace&gt;</text>"));
  const rows = [...svg.matchAll(/<text x="10" y="([\d.]+)">([^<]+)<\/text>/g)]
    .map((m) => m[2]);
  assert.deepEqual(rows, ["main #0", "worker #1"]);
  const runs = [
    ...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)"[^>]*fill="#2563eb">/g),
  ]
    .map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(runs.length, 4);
  // in time order, left to right, each on its greenlet's row
  assert.deepEqual(runs.map(([, y]) => y), [50, 80, 80, 50]);
  for (let i = 1; i < runs.length; i++) assert.ok(runs[i][0] > runs[i - 1][0]);
  assert.match(svg, />sleep 100 ms<\/text>/);
  assert.match(svg, /<title>sleep 100 ms: 100 ms, woken by timer<\/title>/);
  assert.match(
    svg,
    />join of &lt;Greenlet &quot;worker&quot; #1: worker\(\)&gt;<\/text>/,
  );
  assert.equal(svg.match(/marker-end="url\(#arrow\)"/g)?.length, 1);
  assert.equal(svg.match(/marker-end="url\(#spawn\)"/g)?.length, 1);
});

test("trace_svg: the command line writes what renderTraceSvg returns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trace-svg-" });
  try {
    await Deno.writeTextFile(
      `${dir}/trace.json`,
      JSON.stringify({ traceEvents: TRACE }),
    );
    const r = await runProcess(Deno.execPath(), [
      "run",
      "--quiet",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "scripts/trace_svg.ts",
      `${dir}/trace.json`,
      `${dir}/trace.svg`,
      "fixed",
    ]);
    assert.equal(r.code, 0, r.output);
    assert.equal(
      await Deno.readTextFile(`${dir}/trace.svg`),
      renderTraceSvg(TRACE, { title: "fixed" }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
