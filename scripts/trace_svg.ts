/**
 * Draws a timeline SVG from a trace (`stopTrace()` output written as
 * `{ traceEvents }` JSON): one row per greenlet, its runs as blue
 * rectangles, its waits as grey bars labelled with what it waited on, and
 * arrows from the greenlet that woke (or spawned) another.
 *
 *     deno run --allow-read --allow-write scripts/trace_svg.ts trace.json out.svg [title]
 *
 * `deno task trace:svg` runs `examples/09_trace.ts` and draws
 * `docs/trace.svg` with this. The drawing is a pure function of the events
 * (their order does not matter): the same trace gives the same bytes.
 *
 * Runs last microseconds and sleeps hundreds of milliseconds, so the time
 * axis is compressed: each gap between two consecutive moments where
 * something begins or ends is drawn as wide as the logarithm of its length
 * (at least a few pixels); the ticks give real times.
 *
 * @module
 */
import type { TraceEvent } from "../mod.ts";

/** Options of {@linkcode renderTraceSvg}. */
export interface SvgOptions {
  /** The title line (default: "gevent-ts trace"). */
  title?: string;
  /** Width of the drawing in pixels (default 960). */
  width?: number;
}

const ROW = 30;
const BAR = 18;
const LABELS = 110;
const TOP = 44;
const AXIS = 46;
const CHAR = 6.1; // average width of a character at font-size 11, in px
const MIN_GAP = 3; // px for the shortest gap
const RESOLUTION_NS = 250_000; // gaps shorter than this look alike

/** XML text. */
function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** A number for an attribute: one decimal, no "-0". */
function n(x: number): string {
  const s = x.toFixed(1);
  return s === "-0.0" ? "0.0" : s;
}

/** A duration in nanoseconds, in ms for labels: 3 significant digits. */
function ms(ns: number): string {
  const v = ns / 1e6;
  if (v >= 100) return `${Math.round(v)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

interface Row {
  key: string;
  pid: number;
  tid: number;
  name: string;
  sort: number;
}

/** A stretch of time that should be at least `px` wide (a wait's label). */
interface Span {
  from: number;
  to: number;
  px: number;
}

/**
 * The mapping from trace time (ns) to x: piecewise linear between every
 * moment where something begins or ends. Each gap between two moments is
 * as wide as the log of its length (and `MIN_GAP` at least); gaps inside a
 * span are widened, in proportion, until the span is `px` wide where the
 * width allows.
 */
function timeAxis(
  moments: number[],
  spans: Span[],
  x0: number,
  width: number,
): (t: number) => number {
  const ts = [...new Set(moments)].sort((a, b) => a - b);
  const index = (t: number): number => {
    let lo = 0, hi = ts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ts[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const weights = ts.slice(1).map((t, i) =>
    Math.log2(1 + (t - ts[i]) / RESOLUTION_NS)
  );
  const req = weights.map(() => MIN_GAP);
  let widths = req.slice();
  const layout = (): number[] => {
    // the unit that makes the widths add up to `width` (bisection)
    const sum = (u: number) =>
      weights.reduce((a, w, i) => a + Math.max(req[i], MIN_GAP + w * u), 0);
    let lo = 0, hi = 1;
    while (sum(hi) < width && hi < 1e9) hi *= 2;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (sum(mid) < width) lo = mid;
      else hi = mid;
    }
    const ws = weights.map((w, i) => Math.max(req[i], MIN_GAP + w * lo));
    const total = ws.reduce((a, b) => a + b, 0);
    return total > width ? ws.map((w) => w * width / total) : ws;
  };
  for (let round = 0; round < 12; round++) {
    widths = layout();
    for (const s of spans) {
      const i0 = index(s.from), i1 = index(s.to);
      let have = 0;
      for (let i = i0; i < i1; i++) have += widths[i];
      if (have >= s.px || have === 0) continue;
      for (let i = i0; i < i1; i++) {
        req[i] = Math.max(req[i], widths[i] * s.px / have);
      }
    }
  }
  widths = layout();
  const xs = [x0];
  for (const w of widths) xs.push(xs[xs.length - 1] + w);
  return (t: number): number => {
    if (ts.length === 0 || t <= ts[0]) return x0;
    const hi = index(t);
    if (hi >= ts.length - 1 && t >= ts[ts.length - 1]) return xs[ts.length - 1];
    if (ts[hi] === t) return xs[hi];
    const lo = hi - 1;
    return xs[lo] + (xs[hi] - xs[lo]) * (t - ts[lo]) / (ts[hi] - ts[lo]);
  };
}

/** Ticks at round real times (1, 2 or 5 × 10^k ms), never crowded. */
function ticks(end: number, x: (t: number) => number): number[] {
  const steps = [1, 2, 5];
  let step = 1; // ns
  for (let k = 0; end / step > 10; k++) {
    step = steps[k % 3] * 10 ** Math.floor(k / 3);
  }
  const out: number[] = [];
  let lastX = -Infinity;
  for (let t = 0; t <= end + 1e-9; t += step) {
    const tx = x(t);
    if (tx - lastX >= 44) {
      out.push(t);
      lastX = tx;
    }
  }
  return out;
}

/**
 * The labels of a wait slice, longest first: what it waited on with its
 * timeout (`sleep 100 ms`), without it, without the details in brackets
 * (`Semaphore(counter=0, waiters=1)` → `Semaphore`).
 */
function waitLabels(e: TraceEvent): string[] {
  const timeout = e.args?.timeout;
  const labels = timeout === undefined ? [] : [`${e.name} ${timeout} ms`];
  labels.push(e.name);
  const short = e.name.replace(/\(.*$/, "").trim();
  if (short !== e.name && short !== "") labels.push(short);
  return labels;
}

/** Width in px that `text` takes. */
function textWidth(text: string): number {
  return text.length * CHAR + 6;
}

/** The longest of `labels` that fits in `px`, or "". */
function fit(labels: string[], px: number): string {
  return labels.find((l) => textWidth(l) <= px + 0.5) ?? "";
}

/**
 * Renders `events` (a trace) as an SVG timeline.
 *
 * @param events The trace's events, in any order.
 * @param options Title and width.
 * @returns The SVG document.
 */
export function renderTraceSvg(
  events: readonly TraceEvent[],
  options: SvgOptions = {},
): string {
  const width = options.width ?? 960;
  const title = options.title ?? "gevent-ts trace";
  const rows = new Map<string, Row>();
  for (const e of events) {
    if (e.ph !== "M" || e.name !== "thread_name") continue;
    const key = `${e.pid}/${e.tid}`;
    rows.set(key, {
      key,
      pid: e.pid,
      tid: e.tid,
      name: String(e.args?.name),
      sort: e.tid,
    });
  }
  for (const e of events) {
    if (e.ph !== "M" || e.name !== "thread_sort_index") continue;
    const row = rows.get(`${e.pid}/${e.tid}`);
    if (row !== undefined) row.sort = Number(e.args?.sort_index);
  }
  const order = [...rows.values()].sort((a, b) =>
    a.pid - b.pid || a.sort - b.sort || a.tid - b.tid
  );
  const y = new Map(order.map((r, i) => [r.key, TOP + i * ROW]));
  const timed = events.filter((e) => e.ph !== "M" && y.has(`${e.pid}/${e.tid}`))
    .slice().sort((a, b) =>
      a.ts - b.ts || a.pid - b.pid || a.tid - b.tid ||
      a.ph.localeCompare(b.ph) || a.name.localeCompare(b.name) ||
      (a.dur ?? 0) - (b.dur ?? 0) || (a.id ?? 0) - (b.id ?? 0)
    );
  // times in whole nanoseconds from the first event, as the trace keeps them
  const t0 = timed.length === 0 ? 0 : Math.round(timed[0].ts * 1000);
  const from = (e: TraceEvent) => Math.round(e.ts * 1000) - t0;
  const dur = (e: TraceEvent) => Math.round((e.dur ?? 0) * 1000);
  const to = (e: TraceEvent) => from(e) + dur(e);
  const moments = timed.flatMap((e) =>
    e.ph === "X" ? [from(e), to(e)] : [from(e)]
  );
  const end = Math.max(0, ...moments);
  const x0 = LABELS + 10;
  // every wait wide enough for its shortest label (where the width allows)
  const spans = timed.filter((e) => e.ph === "X" && e.cat === "wait").map((
    e,
  ) => ({
    from: from(e),
    to: to(e),
    px: Math.min(...waitLabels(e).map(textWidth)),
  }));
  const x = timeAxis(moments, spans, x0, width - x0 - 20);
  const height = TOP + order.length * ROW + AXIS;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#d97706"/></marker>` +
      `<marker id="spawn" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#9ca3af"/></marker></defs>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${
      esc(title)
    }</text>`,
    `<text x="10" y="34" fill="#4b5563">` +
      `<tspan fill="#2563eb">■</tspan> run  <tspan fill="#9ca3af">■</tspan> wait (what it waited on)  ` +
      `<tspan fill="#d97706">→</tspan> woke it  <tspan fill="#9ca3af">→</tspan> spawned it · ${
        esc(ms(end))
      } in all</text>`,
  );
  for (const r of order) {
    const ry = y.get(r.key)!;
    out.push(
      `<line x1="${x0}" y1="${n(ry + ROW / 2)}" x2="${n(width - 10)}" y2="${
        n(ry + ROW / 2)
      }" stroke="#e5e7eb"/>`,
      `<text x="10" y="${n(ry + ROW / 2 + 4)}">${esc(`${r.name} #${r.tid}`)}${
        r.pid === 1 ? "" : ` (hub ${r.pid})`
      }</text>`,
    );
  }
  const top = (e: TraceEvent) => y.get(`${e.pid}/${e.tid}`)! + (ROW - BAR) / 2;
  for (const e of timed) {
    if (e.ph !== "X" || e.cat !== "wait") continue;
    const a = x(from(e)), b = x(to(e));
    const labels = waitLabels(e);
    const label = labels[0];
    const woken = e.args?.wokenBy === undefined
      ? ""
      : `, woken by ${e.args.wokenBy}`;
    const text = fit(labels, b - a);
    out.push(
      `<g><title>${esc(`${label}: ${ms(dur(e))}${woken}`)}</title>` +
        `<rect x="${n(a)}" y="${n(top(e))}" width="${
          n(b - a)
        }" height="${BAR}" fill="#e5e7eb" stroke="#9ca3af" stroke-width="0.5"/>` +
        (text === ""
          ? ""
          : `<text x="${n(a + 3)}" y="${
            n(top(e) + BAR / 2 + 4)
          }" fill="#374151">${esc(text)}</text>`) +
        `</g>`,
    );
  }
  for (const e of timed) {
    if (e.ph !== "X" || e.cat !== "run") continue;
    const a = x(from(e)), b = x(to(e));
    out.push(
      `<rect x="${n(a)}" y="${n(top(e))}" width="${
        n(Math.max(2, b - a))
      }" height="${BAR}" fill="#2563eb"><title>${
        esc(`run: ${ms(dur(e))}`)
      }</title></rect>`,
    );
  }
  for (const s of timed) {
    if (s.ph !== "s") continue;
    const f = timed.find((e) => e.ph === "f" && e.id === s.id);
    if (f === undefined) continue;
    const sy = y.get(`${s.pid}/${s.tid}`)! + ROW / 2;
    const fy = y.get(`${f.pid}/${f.tid}`)! + ROW / 2;
    const color = s.cat === "wake" ? "#d97706" : "#9ca3af";
    out.push(
      `<line x1="${n(x(from(s)))}" y1="${n(sy)}" x2="${n(x(from(f)))}" y2="${
        n(fy + (fy > sy ? -BAR / 2 : BAR / 2))
      }" stroke="${color}" stroke-width="1.2" marker-end="url(#${
        s.cat === "wake" ? "arrow" : "spawn"
      })"/>`,
    );
  }
  const axisY = TOP + order.length * ROW + 8;
  out.push(
    `<line x1="${x0}" y1="${axisY}" x2="${
      n(x(end))
    }" y2="${axisY}" stroke="#6b7280"/>`,
  );
  for (const t of ticks(end, x)) {
    out.push(
      `<line x1="${n(x(t))}" y1="${axisY}" x2="${n(x(t))}" y2="${
        axisY + 4
      }" stroke="#6b7280"/>`,
      `<text x="${n(x(t))}" y="${
        axisY + 16
      }" text-anchor="middle" fill="#4b5563">${
        t === 0 ? "0" : esc(ms(t))
      }</text>`,
    );
  }
  out.push(
    `<text x="10" y="${
      axisY + 34
    }" fill="#6b7280" font-size="10">Time axis compressed: each gap between two moments drawn by the log of its length; ticks give real times. Drawn by scripts/trace_svg.ts.</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  const [input, output, title] = Deno.args;
  if (input === undefined || output === undefined) {
    console.error(
      "usage: deno run --allow-read --allow-write scripts/trace_svg.ts trace.json out.svg [title]",
    );
    Deno.exit(2);
  }
  const { traceEvents } = JSON.parse(await Deno.readTextFile(input)) as {
    traceEvents: TraceEvent[];
  };
  await Deno.writeTextFile(
    output,
    renderTraceSvg(traceEvents, title === undefined ? {} : { title }),
  );
  console.log(`drew ${output} from ${input}`);
}
