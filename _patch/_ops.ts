/**
 * Owns how a patched operation follows cancellation: a link to the current
 * scope and the caller's signal, held while the operation lives.
 *
 * @module
 */

import { currentScope, OpLink, trackOp } from "../_core/mod.ts";

/**
 * A link for one patched operation, following the current scope (a kill, a
 * withTimeout deadline) and the caller's own `user` signal: they stop it by
 * `link.abort(reason)` — its hook if it has one, else its controller — for
 * as long as it lives, and it is let go when it ends (`link.release()`). A
 * hook is set before `follow()`, so a scope cancelled already goes through
 * it too.
 */
export function opLink(
  user?: unknown,
  hook?: (reason: unknown) => void,
): OpLink {
  const link = new OpLink();
  if (hook !== undefined) link.onAbort = hook;
  link.follow(currentScope(), asSignal(user));
  return link;
}

function asSignal(v: unknown): AbortSignal | null {
  return v !== null && typeof v === "object" &&
      typeof (v as AbortSignal).addEventListener === "function" &&
      typeof (v as AbortSignal).aborted === "boolean"
    ? v as AbortSignal
    : null;
}

const collected = new FinalizationRegistry<OpLink>((link) => link.release());

/**
 * Lets `link` go when `handle` — the object its caller holds for the
 * operation (a request, a child process, an iterator, a response) — is
 * collected: nothing can observe the operation any more.
 */
export function releaseWith(link: OpLink, handle: object): void {
  if (!link.done) collected.register(handle, link);
}

/**
 * `start()` as a switch point (see `trackOp`) of an operation that `link`
 * stops: a kill or Timeout thrown into the wait aborts it through the link,
 * and the link is let go when the operation settles.
 */
export function linkedOp<T>(
  what: string,
  link: OpLink,
  start: () => PromiseLike<T>,
): Promise<T> {
  return trackOp(what, () => {
    let p: PromiseLike<T>;
    try {
      p = start();
    } catch (e) {
      link.release();
      throw e;
    }
    const release = () => link.release();
    Promise.resolve(p).then(release, release);
    return p;
  }, (reason) => link.abort(reason));
}
