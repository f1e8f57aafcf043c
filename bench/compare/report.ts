/**
 * The pure part of `bench:compare`: medians and spreads of the rounds,
 * ratios against gevent and the raw-promise floor, the targets, the
 * Markdown of `BENCHMARKS.md` and the SVG chart (hand-written, no
 * dependencies). No I/O here: `report_test.ts` checks exact output for fixed
 * input.
 *
 * @module
 */
import {
  floorOf,
  type ImplSpec,
  type MetricSpec,
  type WorkloadSpec,
} from "./spec.ts";

/** One implementation process's JSON line, as the driver stored it. */
export interface Sample {
  how?: string;
  metrics?: Record<string, number>;
  /** Not applicable: why. */
  na?: string;
  /** The process failed: what it said. */
  error?: string;
}

/** Every sample: workload id → implementation id → one per round. */
export type Results = Record<string, Record<string, Sample[]>>;

/** Median, minimum and maximum of some rounds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** The median of `xs` (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of nothing");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and min–max of `key` over the samples that have it. */
export function summarize(
  samples: readonly Sample[] | undefined,
  key: string,
): Summary | undefined {
  const xs = (samples ?? [])
    .map((s) => s.metrics?.[key])
    .filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  if (xs.length === 0) return undefined;
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    n: xs.length,
  };
}

/**
 * How many times better `value` is than `base`: `value / base` for a
 * higher-is-better figure, `base / value` for bytes and time.
 */
export function betterRatio(
  value: number,
  base: number,
  better: MetricSpec["better"],
): number {
  return better === "higher" ? value / base : base / value;
}

const group3 = (n: number) => n.toLocaleString("en-US");

/** A figure with its unit: `4.21 M/s`, `282.6 k/s`, `2,107 B`, `85.0 MiB`. */
export function formatValue(x: number, unit: MetricSpec["unit"]): string {
  switch (unit) {
    case "rate":
      if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
      if (Math.abs(x) >= 1e3) return `${(x / 1e3).toFixed(1)} k/s`;
      return `${x.toFixed(0)} /s`;
    case "bytes":
      return `${group3(Math.round(x))} B`;
    case "MiB":
      return `${x.toFixed(1)} MiB`;
    case "ms":
      return `${x.toFixed(1)} ms`;
  }
}

/** A ratio: `123×`, `12.3×`, `1.23×`, `0.045×`. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r) || r <= 0) return "—";
  if (r >= 100) return `${r.toFixed(0)}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  if (r >= 0.1) return `${r.toFixed(2)}×`;
  return `${r.toPrecision(2)}×`;
}

/** The first line of an error, shortened for a table cell. */
function firstLine(text: string): string {
  const line = text.split("\n")[0].replaceAll("|", "\\|");
  return line.length > 80 ? `${line.slice(0, 77)}…` : line;
}

/** The Markdown table of one workload. */
export function workloadTable(
  w: WorkloadSpec,
  impls: readonly ImplSpec[],
  results: Results,
): string {
  const byImpl = results[w.id] ?? {};
  const gevent = byImpl["gevent"];
  const head = ["implementation", "how"];
  for (const [i, m] of w.metrics.entries()) {
    head.push(`${m.label} (median)`, "min–max", "vs gevent");
    if (i === 0) head.push("vs raw floor");
  }
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => i < 2 ? "---" : "---:").join("|")}|`,
  ];
  for (const impl of impls) {
    const samples = byImpl[impl.id];
    if (samples === undefined || samples.length === 0) continue;
    const na = samples.find((s) => s.na !== undefined)?.na;
    const errors = samples.filter((s) => s.error !== undefined);
    const how = samples.find((s) => s.how !== undefined)?.how;
    const cells = [impl.label];
    if (na !== undefined) {
      cells.push(`n/a: ${na}`);
    } else if (errors.length === samples.length) {
      cells.push(`failed: ${firstLine(errors[0].error!)}`);
    } else {
      cells.push(
        `\`${how}\`` +
          (errors.length > 0
            ? ` (${errors.length} of ${samples.length} rounds failed)`
            : ""),
      );
    }
    for (const [i, m] of w.metrics.entries()) {
      const s = summarize(samples, m.key);
      const g = summarize(gevent, m.key);
      const floorId = floorOf(impl);
      const f = floorId === undefined
        ? undefined
        : summarize(byImpl[floorId], m.key);
      if (s === undefined) {
        cells.push("n/a", "", "");
        if (i === 0) cells.push("");
        continue;
      }
      cells.push(
        formatValue(s.median, m.unit),
        s.n > 1
          ? `${formatValue(s.min, m.unit)} – ${formatValue(s.max, m.unit)}`
          : "(1 round)",
        g === undefined || impl.id === "gevent"
          ? (impl.id === "gevent" ? "1×" : "")
          : formatRatio(betterRatio(s.median, g.median, m.better)),
      );
      if (i === 0) {
        cells.push(
          f === undefined
            ? ""
            : impl.family === "raw"
            ? "1×"
            : formatRatio(betterRatio(s.median, f.median, m.better)),
        );
      }
    }
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** One line of the targets table. */
export interface TargetRow {
  target: string;
  measured: string;
  /** `undefined`: not measured (an implementation or workload missing). */
  met: boolean | undefined;
}

/** The targets, checked against the medians. */
export function targets(
  workloads: readonly WorkloadSpec[],
  results: Results,
): TargetRow[] {
  const spec = (id: string) => workloads.find((w) => w.id === id);
  const med = (w: string, impl: string, key: string) =>
    summarize(results[w]?.[impl], key)?.median;
  const rows: TargetRow[] = [];
  /** `ours` at least `factor` times better than `base` (main figure). */
  const atLeast = (
    target: string,
    w: string,
    ours: string,
    base: string,
    factor: number,
    key?: string,
  ) => {
    const ws = spec(w);
    const m = ws?.metrics.find((x) => x.key === (key ?? ws.metrics[0].key));
    const a = m && med(w, ours, m.key);
    const b = m && med(w, base, m.key);
    if (m === undefined || a === undefined || b === undefined) {
      rows.push({ target, measured: "not measured", met: undefined });
      return;
    }
    const r = betterRatio(a, b, m.better);
    rows.push({
      target,
      measured: `${formatRatio(r)} (${formatValue(a, m.unit)} vs ${
        formatValue(b, m.unit)
      })`,
      met: r >= factor,
    });
  };
  atLeast("W1 ≥ 20× gevent", "W1", "gevent-ts-deno", "gevent", 20);
  atLeast("W2 ≥ 15× gevent", "W2", "gevent-ts-deno", "gevent", 15);
  atLeast(
    "W3 ≥ 20× gevent (spawn+join rate)",
    "W3",
    "gevent-ts-deno",
    "gevent",
    20,
  );
  atLeast(
    "W4 ≤ 1/8 of gevent's bytes (RSS per idle greenlet)",
    "W4",
    "gevent-ts-deno",
    "gevent",
    8,
  );
  atLeast("W5 ≥ 8× gevent", "W5", "gevent-ts-deno", "gevent", 8);
  atLeast("W6 ping-pong ≥ 10× gevent", "W6a", "gevent-ts-deno", "gevent", 10);
  // the words: wall time (the W7 table also shows the time over
  // the ideal 100 ms)
  atLeast(
    "W7 wall ≤ 1/4 of gevent's",
    "W7",
    "gevent-ts-deno",
    "gevent",
    4,
    "wallMs",
  );
  atLeast(
    "W7 wall ≤ 1/2 of bare setTimeout's (Deno)",
    "W7",
    "gevent-ts-deno",
    "raw-deno",
    2,
    "wallMs",
  );
  for (const w of ["W1", "W2", "W3"]) {
    atLeast(
      `${w} ≥ 3× Effection (Deno)`,
      w,
      "gevent-ts-deno",
      "effection-deno",
      3,
    );
  }
  for (const rt of ["deno", "node"]) {
    const name = rt === "deno" ? "Deno" : "Node";
    atLeast(
      `W8 Pool(100) within 5 % of raw Promise.all batches (${name})`,
      "W8",
      `gevent-ts-${rt}`,
      `raw-${rt}`,
      0.95,
    );
  }
  for (const w of ["W1", "W2"]) {
    atLeast(
      `${w} per switch within 2.5× of the raw \`await null\` floor (Deno)`,
      w,
      "gevent-ts-deno",
      "raw-deno",
      1 / 2.5,
    );
  }
  atLeast(
    "W1 on Node 20 (npm bundle) ≥ 5× gevent",
    "W1",
    "gevent-ts-node",
    "gevent",
    5,
  );
  return rows;
}

/** The targets as a Markdown table. */
export function targetsTable(rows: readonly TargetRow[]): string {
  const mark = (m: boolean | undefined) =>
    m === undefined ? "n/a" : m ? "met" : "**missed**";
  return [
    "| target (gevent-ts on Deno unless said) | measured (ours vs theirs, medians) | result |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.target} | ${r.measured} | ${mark(r.met)} |`),
  ].join("\n");
}

/** One bar of the chart. */
export interface Bar {
  impl: string;
  ratio: number | undefined;
}

/** One group of bars: a workload. */
export interface BarGroup {
  label: string;
  bars: Bar[];
}

/** The chart's bars: each workload's main figure against gevent's. */
export function chartGroups(
  workloads: readonly WorkloadSpec[],
  impls: readonly ImplSpec[],
  results: Results,
): BarGroup[] {
  return workloads
    .filter((w) => results[w.id] !== undefined)
    .map((w) => {
      const m = w.metrics[0];
      const g = summarize(results[w.id]["gevent"], m.key);
      return {
        label: w.id,
        bars: impls.filter((i) => i.id !== "gevent").map((i) => {
          const s = summarize(results[w.id][i.id], m.key);
          return {
            impl: i.label,
            ratio: s && g
              ? betterRatio(s.median, g.median, m.better)
              : undefined,
          };
        }),
      };
    });
}

const PALETTE = [
  "#1f77b4",
  "#aec7e8",
  "#ff7f0e",
  "#ffbb78",
  "#2ca02c",
  "#98df8a",
  "#7f7f7f",
  "#c7c7c7",
  "#9467bd",
];

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const r1 = (x: number) => String(Math.round(x * 10) / 10);

/**
 * A grouped bar chart of ratios on a log scale (bars grow up from 1× when
 * better than gevent, down when worse), one group per workload, one colour
 * per implementation, a legend below.
 */
export function renderSvg(groups: readonly BarGroup[], title: string): string {
  const labels = groups[0]?.bars.map((b) => b.impl) ?? [];
  const ratios = groups.flatMap((g) => g.bars.map((b) => b.ratio))
    .filter((r): r is number => r !== undefined && r > 0 && Number.isFinite(r));
  const lo = Math.min(0, Math.floor(Math.log10(Math.min(1, ...ratios))));
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(1, ...ratios))));
  const barW = 12, gap = 18, left = 56, top = 36, plotH = 280;
  const groupW = labels.length * barW + gap;
  const plotW = groups.length * groupW;
  const width = Math.max(
    left + plotW + 16,
    left + Math.min(3, labels.length) * 240,
  );
  const legendRows = Math.ceil(labels.length / 3);
  const height = top + plotH + 28 + legendRows * 18 + 10;
  const y = (r: number) => top + plotH * (hi - Math.log10(r)) / (hi - lo);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="13" font-weight="bold">${
      esc(title)
    }</text>`,
  ];
  for (let d = lo; d <= hi; d++) {
    const yy = r1(y(10 ** d));
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="${
        d === 0 ? "#000" : "#ddd"
      }"/>`,
      `<text x="${
        left - 6
      }" y="${yy}" text-anchor="end" dominant-baseline="middle">${
        (d >= 0 ? String(10 ** d) : (10 ** d).toFixed(-d)) + "×"
      }</text>`,
    );
  }
  for (const [gi, g] of groups.entries()) {
    const x0 = left + gi * groupW + gap / 2;
    for (const [bi, b] of g.bars.entries()) {
      if (b.ratio === undefined || !(b.ratio > 0)) continue;
      const x = x0 + bi * barW;
      const y1 = y(Math.max(b.ratio, 10 ** lo));
      const top_ = Math.min(y1, y(1));
      out.push(
        `<rect x="${r1(x)}" y="${r1(top_)}" width="${barW - 1}" height="${
          r1(Math.max(0.5, Math.abs(y1 - y(1))))
        }" fill="${PALETTE[bi % PALETTE.length]}"><title>${esc(g.label)} ${
          esc(b.impl)
        }: ${formatRatio(b.ratio)} gevent</title></rect>`,
      );
    }
    out.push(
      `<text x="${r1(x0 + (labels.length * barW) / 2)}" y="${
        top + plotH + 16
      }" text-anchor="middle" font-weight="bold">${esc(g.label)}</text>`,
    );
  }
  for (const [i, label] of labels.entries()) {
    const x = left + (i % 3) * 240;
    const yy = top + plotH + 28 + Math.floor(i / 3) * 18;
    out.push(
      `<rect x="${x}" y="${yy}" width="10" height="10" fill="${
        PALETTE[i % PALETTE.length]
      }"/>`,
      `<text x="${x + 14}" y="${yy + 9}">${esc(label)}</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** What the document says besides the tables. */
export interface Meta {
  date: string;
  command: string;
  machine: string;
  versions: readonly (readonly [string, string])[];
  rounds: number;
  /** The chart's path relative to BENCHMARKS.md. */
  chart: string;
  notes: readonly string[];
}

/** The whole of `BENCHMARKS.md`. */
export function renderMarkdown(
  workloads: readonly WorkloadSpec[],
  impls: readonly ImplSpec[],
  results: Results,
  meta: Meta,
): string {
  const parts = [
    "<!-- GENERATED by `deno task bench:compare` (bench/compare/compare.ts). Do not edit by hand: rerun the driver. -->",
    "",
    "# Benchmarks: gevent-ts against gevent and JavaScript peers",
    "",
    `Generated by \`${meta.command}\` on ${meta.date}. **This file is written by the driver; do not edit it by hand.**`,
    "",
    `Machine: ${meta.machine}.`,
    "",
    "| component | version |",
    "|---|---|",
    ...meta.versions.map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `Method: every workload runs in a fresh process per implementation, ${meta.rounds} round${
      meta.rounds === 1 ? "" : "s"
    }, round-robin (round 1 runs every implementation once, then round 2, …). ` +
    "Figures are medians over the rounds; min–max is the spread across them. " +
    'Ratios are "times better": for a rate, ours ÷ theirs; for bytes and time, theirs ÷ ours — above 1× is better. ' +
    '"vs raw floor" compares with the raw-promise implementation on the same runtime. ' +
    "Each process checks its own result (counts, sums, every waiter woken) and fails rather than report a run that did not do the work.",
    "",
    `![Ratios against gevent, log scale](${meta.chart})`,
    "",
    "## Targets (issue 14)",
    "",
    targetsTable(targets(workloads, results)),
  ];
  for (const w of workloads) {
    if (results[w.id] === undefined) continue;
    parts.push(
      "",
      `## ${w.title}`,
      "",
      `${w.what.charAt(0).toUpperCase()}${w.what.slice(1)}.`,
      "",
      workloadTable(w, impls, results),
    );
  }
  if (meta.notes.length > 0) {
    parts.push("", "## Notes", "", ...meta.notes.map((n) => `- ${n}`));
  }
  return parts.join("\n") + "\n";
}
