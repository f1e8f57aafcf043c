// Type-checked by greenlet_test.ts with this folder's deno.json (strict,
// exactOptionalPropertyTypes): the public types say what the values are.
// Each `@ts-expect-error` must be an error, or the check fails.
import {
  type AcquireOptions,
  Greenlet,
  type GreenletExit,
  joinAll,
  type JoinAllOptions,
  type KillOptions,
  Semaphore,
  spawn,
  withTimeout,
} from "../../mod.ts";

const g = spawn((x: number) => x * 2, 21);
const got: number | GreenletExit = await g.get();
const n: number = await g.result();
// @ts-expect-error get() gives the GreenletExit of a killed greenlet too
const wrong: number = await g.get();

// joinAll keeps the element type
const done: Greenlet<number>[] = await joinAll([g]);
const strings = await joinAll([spawn(() => "s")]);
const first: string | GreenletExit | undefined = strings[0].value;

// new Greenlet checks the arguments against the function, as spawn does
const made = new Greenlet((a: number, b: string) => `${a}${b}`, 1, "x");
// @ts-expect-error the argument is not a number
new Greenlet((a: number) => a, "not a number");
// @ts-expect-error spawn too
spawn((a: number) => a, "not a number");

// option types take an explicit undefined (exactOptionalPropertyTypes)
const kill: KillOptions = { timeout: undefined, block: undefined };
const join: JoinAllOptions = { timeout: undefined, count: undefined };
const acquire: AcquireOptions = { timeout: undefined, signal: undefined };
await new Semaphore(1).acquire(acquire);

// withTimeout: a function that declares a parameter gets the object
const job: number = await withTimeout(
  10,
  (j: { timeoutValue: number }) => j.timeoutValue,
  { timeoutValue: 1 },
);
const late: string | number = await withTimeout(10, () => 1, {
  timeoutValue: "late",
});

export { done, first, got, job, join, kill, late, made, n, wrong };
