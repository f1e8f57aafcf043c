/**
 * Exact output of `report.ts` for fixed input: medians, ratios, number
 * formats, a workload table, the targets and the SVG chart
 * (`deno test bench/compare/`).
 *
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  betterRatio,
  chartGroups,
  formatRatio,
  formatValue,
  median,
  renderSvg,
  type Results,
  summarize,
  targets,
  targetsTable,
  workloadTable,
} from "./report.ts";
import type { ImplSpec, WorkloadSpec } from "./spec.ts";

const W: WorkloadSpec = {
  id: "W1",
  title: "W1: test",
  what: "test",
  full: {},
  quick: {},
  metrics: [{
    key: "rate",
    label: "switches/s",
    unit: "rate",
    better: "higher",
  }],
};
const MEM: WorkloadSpec = {
  ...W,
  id: "W4",
  metrics: [{ key: "rssBytes", label: "RSS", unit: "bytes", better: "lower" }],
};
const IMPLS: ImplSpec[] = [
  { id: "gevent-ts-deno", label: "ours", runtime: "deno", family: "gevent-ts" },
  { id: "gevent", label: "gevent", runtime: "python", family: "gevent" },
  { id: "effection-deno", label: "eff", runtime: "deno", family: "effection" },
  { id: "raw-deno", label: "raw", runtime: "deno", family: "raw" },
];
const rates = (...xs: number[]) => xs.map((rate) => ({ metrics: { rate } }));
const RESULTS: Results = {
  W1: {
    "gevent-ts-deno": rates(4e6, 5e6, 4.5e6),
    gevent: rates(2e5, 3e5, 2.5e5),
    "effection-deno": [{ na: "no such thing" }],
    "raw-deno": [...rates(1.2e7, 1e7), { error: "boom\nstack" }],
  },
  W4: {
    "gevent-ts-deno": [{ metrics: { rssBytes: 1000 } }],
    gevent: [{ metrics: { rssBytes: 8500 } }],
  },
};

Deno.test("median, summarize, betterRatio", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
  assertEquals(summarize(RESULTS.W1["raw-deno"], "rate"), {
    median: 1.1e7,
    min: 1e7,
    max: 1.2e7,
    n: 2,
  });
  assertEquals(summarize(RESULTS.W1["effection-deno"], "rate"), undefined);
  assertEquals(betterRatio(10, 2, "higher"), 5);
  assertEquals(betterRatio(10, 2, "lower"), 0.2);
});

Deno.test("formatValue and formatRatio", () => {
  assertEquals(
    [
      formatValue(4_212_345, "rate"),
      formatValue(282_616, "rate"),
      formatValue(869.4, "rate"),
      formatValue(2106.7, "bytes"),
      formatValue(85.03, "MiB"),
      formatValue(160.71, "ms"),
    ],
    ["4.21 M/s", "282.6 k/s", "869 /s", "2,107 B", "85.0 MiB", "160.7 ms"],
  );
  assertEquals(
    [123.4, 12.34, 1.234, 0.1234, 0.04567, 0, NaN].map(formatRatio),
    ["123×", "12.3×", "1.23×", "0.12×", "0.046×", "—", "—"],
  );
});

Deno.test("workloadTable", () => {
  assertEquals(
    workloadTable(W, IMPLS, RESULTS),
    [
      "| implementation | how | switches/s (median) | min–max | vs gevent | vs raw floor |",
      "|---|---|---:|---:|---:|---:|",
      "| ours | `undefined` | 4.50 M/s | 4.00 M/s – 5.00 M/s | 18.0× | 0.41× |",
      "| gevent | `undefined` | 250.0 k/s | 200.0 k/s – 300.0 k/s | 1× |  |",
      "| eff | n/a: no such thing | n/a |  |  |  |",
      "| raw | `undefined` (1 of 3 rounds failed) | 11.00 M/s | 10.00 M/s – 12.00 M/s | 44.0× | 1× |",
    ].join("\n"),
  );
});

Deno.test("targets", () => {
  const rows = targets([W, MEM], RESULTS);
  assertEquals(rows[0], {
    target: "W1 ≥ 20× gevent",
    measured: "18.0× (4.50 M/s vs 250.0 k/s)",
    met: false,
  });
  assertEquals(rows[3], {
    target: "W4 ≤ 1/8 of gevent's bytes (RSS per idle greenlet)",
    measured: "8.50× (1,000 B vs 8,500 B)",
    met: true,
  });
  assertEquals(rows[1].met, undefined);
  assertEquals(
    targetsTable(rows.slice(0, 2)).split("\n").slice(2),
    [
      "| W1 ≥ 20× gevent | 18.0× (4.50 M/s vs 250.0 k/s) | **missed** |",
      "| W2 ≥ 15× gevent | not measured | n/a |",
    ],
  );
});

Deno.test("renderSvg", () => {
  const groups = chartGroups([W], IMPLS.slice(0, 2), RESULTS);
  assertEquals(groups, [{ label: "W1", bars: [{ impl: "ours", ratio: 18 }] }]);
  assertEquals(
    renderSvg(
      [{
        label: "W<1>",
        bars: [{ impl: "a", ratio: 18 }, { impl: "b", ratio: 0.5 }],
      }],
      "t & t",
    ),
    [
      '<svg xmlns="http://www.w3.org/2000/svg" width="536" height="372" viewBox="0 0 536 372" font-family="sans-serif" font-size="11">',
      '<rect width="536" height="372" fill="#fff"/>',
      '<text x="56" y="20" font-size="13" font-weight="bold">t &amp; t</text>',
      '<line x1="56" y1="316" x2="98" y2="316" stroke="#ddd"/>',
      '<text x="50" y="316" text-anchor="end" dominant-baseline="middle">0.1×</text>',
      '<line x1="56" y1="222.7" x2="98" y2="222.7" stroke="#000"/>',
      '<text x="50" y="222.7" text-anchor="end" dominant-baseline="middle">1×</text>',
      '<line x1="56" y1="129.3" x2="98" y2="129.3" stroke="#ddd"/>',
      '<text x="50" y="129.3" text-anchor="end" dominant-baseline="middle">10×</text>',
      '<line x1="56" y1="36" x2="98" y2="36" stroke="#ddd"/>',
      '<text x="50" y="36" text-anchor="end" dominant-baseline="middle">100×</text>',
      '<rect x="65" y="105.5" width="11" height="117.2" fill="#1f77b4"><title>W&lt;1&gt; a: 18.0× gevent</title></rect>',
      '<rect x="77" y="222.7" width="11" height="28.1" fill="#aec7e8"><title>W&lt;1&gt; b: 0.50× gevent</title></rect>',
      '<text x="77" y="332" text-anchor="middle" font-weight="bold">W&lt;1&gt;</text>',
      '<rect x="56" y="344" width="10" height="10" fill="#1f77b4"/>',
      '<text x="70" y="353">a</text>',
      '<rect x="296" y="344" width="10" height="10" fill="#aec7e8"/>',
      '<text x="310" y="353">b</text>',
      "</svg>",
      "",
    ].join("\n"),
  );
});
