// An ended greenlet whose context a raw promise callback still holds: while
// the greenlet is referenced, the callback runs as it; once nothing
// references it, it is collectable although the callback still waits (its
// context holds it weakly once it ended), and the callback runs as its
// hub's main. Prints one line per step.
// Run with --expose-gc (Node) or --v8-flags=--expose-gc (Deno).
import { getCurrent, getHub, spawn } from "../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc!;
const lines: string[] = [];
const turn = () => new Promise((r) => setTimeout(r, 5));

function leaveFlow(label: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let ran!: () => void;
  const flowRan = new Promise<void>((r) => (ran = r));
  const g = spawn((big: Uint8Array) => {
    // a raw callback, in the greenlet's context, that outlives it
    void gate.then(() => {
      const cur = getCurrent();
      lines.push(
        `${label}: the flow runs as ${
          cur === getHub().main ? "main" : cur.name
        }`,
      );
      ran();
    });
    return big.length;
  }, new Uint8Array(1 << 20));
  g.name = label;
  return { release, flowRan, ref: new WeakRef(g) };
}

const kept = leaveFlow("kept");
const keptGreenlet = kept.ref.deref();
await turn();
gc();
lines.push(
  `kept: ended ${keptGreenlet?.dead}, collected ${
    kept.ref.deref() === undefined
  }`,
);
kept.release();
await kept.flowRan;

const dropped = leaveFlow("dropped");
await turn();
gc();
await turn();
gc();
lines.push(`dropped: collected ${dropped.ref.deref() === undefined}`);
dropped.release();
await dropped.flowRan;
console.log(lines.join("\n"));
