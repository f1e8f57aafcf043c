/**
 * Owns the run-info text: a hub's greenlet tree with each greenlet's state,
 * what it waits on, where it was spawned, and the patched timers it armed.
 *
 * @module
 */

import type { HubCore } from "./hub_core.ts";
import { timeLeft } from "../_util/mod.ts";
import { allSites } from "./hooks.ts";
import { DEAD, NEW, RUNNING, SCHEDULED, type Task } from "./scope.ts";
import { describeWaits } from "./waiter.ts";

/** A timer argument that describes itself in run info (patched timers). */
export interface DescribedTimer {
  /** The task that armed the timer. */
  readonly owner: Task;
  /** E.g. `setTimeout(tick, 100 ms)`. */
  describeTimer(): string;
}

function isDescribedTimer(v: unknown): v is DescribedTimer {
  return v !== null && typeof v === "object" &&
    typeof (v as DescribedTimer).describeTimer === "function";
}

const STATES: Record<number, string> = {
  [NEW]: "not started",
  [SCHEDULED]: "scheduled to start",
  [RUNNING]: "running",
  [DEAD]: "dead",
};

/**
 * A greenlet's state in one word: `"unstarted"`, `"scheduled"` (to start),
 * `"running"` (it runs, or its resumption is queued), `"waiting"` (on
 * something the hub owns), `"away"` (in an await the hub does not own: the
 * run queue's probe found it neither running nor parked) or `"dead"`.
 */
export type StateName =
  | "unstarted"
  | "scheduled"
  | "running"
  | "waiting"
  | "away"
  | "dead";

const NAMES: Record<number, StateName> = {
  [NEW]: "unstarted",
  [SCHEDULED]: "scheduled",
  [DEAD]: "dead",
};

/** `t`'s {@linkcode StateName}. */
export function stateName(t: Task): StateName {
  if (t.state !== RUNNING) return NAMES[t.state];
  if (t.waits !== null) return "waiting";
  // main is the program's code: the hub cannot tell where it is
  return !t.isMain && t.away ? "away" : "running";
}

const AWAY = "away in an await the hub does not own";

/**
 * `t`'s state as run info shows it: `running`, `waiting on sleep (2.2 s
 * left)`, `away in an await the hub does not own`, `dead`…
 */
export function stateText(t: Task): string {
  const waits = describeWaits(t);
  if (t.state === DEAD) {
    return waits === null
      ? "dead"
      : `ended; a flow it started waits on ${waits}`;
  }
  if (waits !== null) return `waiting on ${waits}`;
  return stateName(t) === "away" ? AWAY : STATES[t.state];
}

function line(core: HubCore, t: Task, shownUnder: Task | null): string {
  const state = stateText(t);
  const orphan = t.parent !== null && t.parent !== shownUnder
    ? ` (parent ${core.greenletOf(t.parent)} ended)`
    : "";
  const site = t.spawnSite === null || !allSites()
    ? ""
    : ` — spawned at ${t.spawnSite}`;
  let away = "";
  for (const s of t.detached ?? []) {
    const from = (s as { site?: string | null }).site;
    const label = s.label(null) ?? "scope";
    const kind = label.replace(/\(.*$/, "");
    away += `; a ${label} body detached ${s.detachedWhy()} is away in ` +
      `an await the hub does not own${from ? ` (${kind} at ${from})` : ""}`;
  }
  return `${core.greenletOf(t)} ${state}${orphan}${away}${site}`;
}

/**
 * The tree of `core`'s greenlets under main; "" when no greenlet is alive,
 * main waits on nothing and no patched timer is listed. Patched timers that
 * keep nothing alive (unref'd: the runtime's own, such as undici's) are
 * listed only with `all`.
 */
export function formatRunInfo(core: HubCore, all: boolean): string {
  const live = core.liveOldestFirst();
  // each timer's text, its parenthesis left open for "armed by … ended"
  const timers = new Map<Task, string[]>();
  const now = core.now();
  for (const t of core.timers.values()) {
    const arg = t.arg;
    if (!isDescribedTimer(arg) || (!t.ref && !all)) continue;
    const list = timers.get(arg.owner) ?? [];
    const left = timeLeft(t.deadline - now);
    list.push(`${arg.describeTimer()} (${left}${t.ref ? "" : ", unref'd"}`);
    timers.set(arg.owner, list);
  }
  const root = core.main;
  if (live.length === 0 && timers.size === 0 && root.waits === null) return "";
  const liveSet = new Set<Task>(live);
  const children = new Map<Task, Task[]>();
  for (const t of live) {
    const p = t.parent !== null && liveSet.has(t.parent) ? t.parent : root;
    const list = children.get(p) ?? [];
    list.push(t);
    children.set(p, list);
  }
  const lines: string[] = [line(core, root, null)];
  const walk = (t: Task, prefix: string): void => {
    const items: (string | Task)[] = [
      ...(timers.get(t) ?? []).sort(),
      ...(children.get(t) ?? []),
    ];
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      const branch = prefix + (last ? "└─ " : "├─ ");
      if (typeof item === "string") {
        lines.push(`${branch}${item})`);
        return;
      }
      lines.push(branch + line(core, item, t));
      walk(item, prefix + (last ? "   " : "│  "));
    });
  };
  walk(root, "");
  for (const [owner, list] of timers) {
    if (owner !== root && !liveSet.has(owner)) {
      for (const text of list.sort()) {
        lines.push(`${text}, armed by ${core.greenletOf(owner)}, ended)`);
      }
    }
  }
  return lines.join("\n");
}
