/**
 * A retry policy written with cancel scopes: each attempt runs in
 * `moveOnAfter(attemptTimeout, …)`, and `scope.cancelledCaught` — not the
 * result — tells an attempt that timed out from one that returned
 * `undefined`; between attempts the policy backs off exponentially. A
 * download attempt pushes its own deadline out with each chunk (an idle
 * timeout), and a whole job runs under `failAfter(budget, …)`: when that
 * outer deadline passes, its cancellation passes through the attempt's
 * scope without marking it caught, so the policy does not mistake it for
 * one more timed-out attempt.
 *
 * It runs in virtual time (`withVirtualTime`), so its output — the times
 * included — is the same on every run, and it takes microseconds.
 *
 * Run: `deno run examples/12_retry.ts`
 *
 * @module
 */
import {
  type CancelScope,
  failAfter,
  getHub,
  moveOnAfter,
  sleep,
  Timeout,
} from "../mod.ts";
import { withVirtualTime } from "../testing.ts";

/** How to retry: attempts, each bounded, with exponential back-off (ms). */
interface RetryPolicy {
  attempts: number;
  attemptTimeout: number;
  backoff: number;
  factor: number;
  maxBackoff: number;
}

/** An error worth another attempt (a 503, a reset connection). */
class Transient extends Error {}

function say(line: string): void {
  console.log(`[${String(getHub().now()).padStart(4)} ms] ${line}`);
}

/**
 * Runs `op` until it returns, under `policy`: an attempt that times out or
 * throws `Transient` is retried after a back-off; anything else — another
 * error, a cancellation from outside — ends the retries at once.
 */
async function retry<T>(
  policy: RetryPolicy,
  op: (attempt: number, scope: CancelScope) => Promise<T>,
): Promise<T> {
  let delay = policy.backoff;
  for (let attempt = 1;; attempt++) {
    let why: string;
    let scope!: CancelScope;
    try {
      const result = await moveOnAfter(policy.attemptTimeout, (s) => {
        scope = s;
        return op(attempt, s);
      });
      if (!scope.cancelledCaught) return result as T; // even if undefined
      why = `timed out`;
    } catch (e) {
      if (!(e instanceof Transient)) throw e; // an outer Timeout, a kill, a bug
      why = `failed: ${e.message}`;
    }
    if (attempt === policy.attempts) {
      throw new Error(`gave up after ${attempt} attempts (${why})`);
    }
    say(`  attempt ${attempt} ${why}; retrying in ${delay} ms`);
    await sleep(delay);
    delay = Math.min(delay * policy.factor, policy.maxBackoff);
  }
}

const policy: RetryPolicy = {
  attempts: 4,
  attemptTimeout: 100,
  backoff: 50,
  factor: 2,
  maxBackoff: 400,
};

/** A flaky server, scripted per attempt: hangs, then a 503, then a slow stream. */
async function download(attempt: number, scope: CancelScope): Promise<string> {
  if (attempt === 1) await sleep(10_000); // hangs: the attempt times out
  if (attempt === 2) {
    await sleep(20);
    throw new Transient("503 Service Unavailable");
  }
  // a stream of 5 chunks, 60 ms apart: 300 ms in all, more than the
  // attempt's 100 ms — each chunk pushes the deadline out (an idle timeout)
  const chunks: string[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(60);
    chunks.push(`chunk${i}`);
    scope.deadline = getHub().now() + policy.attemptTimeout;
  }
  return chunks.join(",");
}

await withVirtualTime(async () => {
  say("job 1: download, retried");
  const body = await retry(policy, download);
  say(`job 1 got ${body}`);

  say("job 2: a lookup that may return undefined, retried");
  const found = await retry(policy, async (attempt) => {
    await sleep(attempt === 1 ? 500 : 10);
    return undefined; // a real answer: "not found"
  });
  say(`job 2 got ${found} (an answer, not a timeout)`);

  say("job 3: the same download under a 250 ms budget");
  try {
    await failAfter(250, () => retry(policy, download));
  } catch (e) {
    if (!(e instanceof Timeout)) throw e;
    say(`job 3 ran out of its ${e.ms} ms budget mid-attempt: no retry`);
  }
});
