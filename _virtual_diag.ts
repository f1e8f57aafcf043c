/**
 * What a virtual-time `LoopExit` adds (testing.ts): which hub each blocked
 * greenlet is on, the timers armed on the real clock (a fixture built
 * outside `withVirtualTime`), and the native timers armed through the
 * unpatched globals while the run's code ran — found by a probe: while a
 * virtual run is active, the global `setTimeout`/`setInterval` (when not
 * patched) are wrapped by pass-throughs that note the timers armed from
 * inside a virtual hub, until they fire or are cleared.
 *
 * @module
 */

import {
  DEAD,
  describeWaits,
  type HubCore,
  hubCoreOf,
  storedScope,
} from "./_core/mod.ts";
import { patches } from "./_patch/registry.ts";
import { timeLeft, userSite } from "./_util/mod.ts";
import type { Greenlet } from "./greenlet.ts";
import { type BlockedWait, type LoopExit, waitDetail } from "./hub.ts";

/** A native timer armed from inside a virtual run, not yet fired or cleared. */
interface NativeTimer {
  readonly kind: string;
  readonly ms: number;
  readonly site: string | null;
  readonly core: HubCore;
}

const armed = new Map<unknown, NativeTimer>();
const watched = new Set<HubCore>();
type Fn = (...args: unknown[]) => unknown;
/** The globals replaced by the probe, with what was there. */
let saved: Map<string, { was: Fn; probe: Fn }> | null = null;

function keyOf(handle: unknown): unknown {
  if (typeof handle === "number") return handle;
  const n = Number(handle);
  return Number.isNaN(n) ? handle : n;
}

/** The virtual hub the running code is on, when watched. */
function watchedCore(): HubCore | null {
  const scope = storedScope();
  if (scope === undefined) return null;
  const core = hubCoreOf(scope.task);
  return watched.has(core) ? core : null;
}

function arming(kind: string, was: Fn): Fn {
  return function (this: unknown, ...args: unknown[]): unknown {
    const core = watchedCore();
    const cb = args[0];
    if (core === null || typeof cb !== "function") {
      return Reflect.apply(was, this, args);
    }
    const slot: { key: unknown } = { key: undefined };
    const repeat = kind === "setInterval";
    args[0] = function (this: unknown, ...a: unknown[]): unknown {
      if (!repeat) armed.delete(slot.key);
      return Reflect.apply(cb, this, a);
    };
    const handle = Reflect.apply(was, this, args);
    const key = slot.key = keyOf(handle);
    const ms = Number(args[1]);
    armed.set(key, {
      kind,
      ms: Number.isFinite(ms) ? Math.max(0, ms) : 0,
      site: userSite(),
      core,
    });
    return handle;
  };
}

function clearing(was: Fn): Fn {
  return function (this: unknown, ...args: unknown[]): unknown {
    armed.delete(keyOf(args[0]));
    return Reflect.apply(was, this, args);
  };
}

const PROBES: [string, (was: Fn) => Fn][] = [
  ["setTimeout", (was) => arming("setTimeout", was)],
  ["setInterval", (was) => arming("setInterval", was)],
  ["clearTimeout", clearing],
  ["clearInterval", clearing],
];

/** The virtual run on `core` starts: note the native timers its code arms. */
export function watchNativeTimers(core: HubCore): void {
  watched.add(core);
  if (saved !== null) return;
  saved = new Map();
  const g = globalThis as unknown as Record<string, unknown>;
  for (const [name, make] of PROBES) {
    const was = g[name];
    if (patches.has(name) || typeof was !== "function") continue;
    const probe = make(was as Fn);
    saved.set(name, { was: was as Fn, probe });
    g[name] = probe;
  }
}

/** The virtual run on `core` ended; the last one puts the globals back. */
export function unwatchNativeTimers(core: HubCore): void {
  watched.delete(core);
  for (const [k, t] of armed) if (t.core === core) armed.delete(k);
  if (watched.size !== 0 || saved === null) return;
  const g = globalThis as unknown as Record<string, unknown>;
  // put back only what is still the probe (a patch installed meanwhile keeps
  // the probe as its original: it stays, a pass-through)
  for (const [name, { was, probe }] of saved) {
    if (g[name] === probe) g[name] = was;
  }
  saved = null;
}

/**
 * `error` (the run's LoopExit) with what it can add: the hub of each blocked
 * greenlet (`blocked`, on the virtual hub `core`), the greenlets waiting on
 * `outer` (the hub that called withVirtualTime, `real` unless it is
 * virtual too), the timers armed on its clock, the native timers armed
 * from inside the run.
 */
export function explainLoopExit(
  error: LoopExit,
  core: HubCore,
  outer: HubCore,
  real: boolean,
): LoopExit {
  const outerName = real
    ? "the real hub (the caller's: its clock is real)"
    : "the caller's virtual hub";
  const lines: string[] = [];
  const others: BlockedWait[] = [];
  for (const t of outer.liveOldestFirst()) {
    if (t === outer.main || t.state === DEAD) continue;
    const what = describeWaits(t, waitDetail);
    if (what !== null) {
      others.push({
        greenlet: outer.greenletOf(t) as Greenlet,
        waitingOn: what,
      });
    }
  }
  if (others.length !== 0) {
    lines.push(
      `Greenlets waiting on ${outerName}, which this run does not wait for (made outside withVirtualTime's fn?):`,
    );
    for (const b of others) {
      const site = b.greenlet.spawnSite;
      lines.push(
        `  ${b.greenlet}${
          site === null ? "" : ` (spawned at ${site})`
        } is waiting on ${b.waitingOn}`,
      );
    }
  }
  const timers = outer.timers;
  if (real && timers.size !== 0) {
    lines.push(
      `${timers.size} timer${
        timers.size === 1 ? " is" : "s are"
      } armed on the real clock (the next: ${
        timeLeft(timers.nextDeadline - outer.now())
      }): virtual time neither waits for nor moves them; build fixtures (greenlets, Timeouts, sleeps) inside withVirtualTime's fn`,
    );
  }
  for (const t of armed.values()) {
    if (t.core !== core) continue;
    lines.push(
      `A native ${t.kind}(${t.ms} ms) is armed through the unpatched global${
        t.site === null ? "" : ` at ${t.site}`
      }: virtual time does not see it; use sleep() or patchTimers() (patch.ts)`,
    );
  }
  if (lines.length === 0) return error;
  if (error.blocked.length !== 0) {
    lines.unshift(
      "The greenlets above are on this withVirtualTime's virtual hub.",
    );
  }
  const before = error.message;
  error.message = `${before}\n${lines.join("\n")}`;
  const stack = error.stack;
  if (stack !== undefined && stack.startsWith(`${error.name}: ${before}`)) {
    error.stack = `${error.name}: ${error.message}${
      stack.slice(error.name.length + 2 + before.length)
    }`;
  }
  return error;
}
