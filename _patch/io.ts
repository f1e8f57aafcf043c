/**
 * `patchFetch()` and `patchDeno()`: I/O the hub can abort.
 *
 * @module
 */

import { denoNs, install, OriginalCommand, resolvePath } from "./registry.ts";
import { linkedOp, opLink, releaseWith } from "./_ops.ts";
import { type OpLink, trackOp } from "../_core/mod.ts";

const BODY_METHODS = [
  "arrayBuffer",
  "blob",
  "bytes",
  "formData",
  "json",
  "text",
] as const;

/**
 * The response of a patched fetch: its body methods are switch points, and
 * the request stays stoppable until one of them has read the body or the
 * response is collected (a `res.body` reader may still be reading).
 */
function trackBody(res: Response, what: string, link: OpLink) {
  for (const m of BODY_METHODS) {
    const original = (res as unknown as Record<string, unknown>)[m];
    if (typeof original !== "function") continue;
    Object.defineProperty(res, m, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) =>
        linkedOp(
          `${what} (reading the body)`,
          link,
          () => original.apply(res, args),
        ),
    });
  }
  releaseWith(link, res);
  return res;
}

/**
 * Replaces the global `fetch`: each call gets its own AbortSignal, combined
 * with the caller's and the current scope's (`getCurrentSignal()`), and is a
 * switch point of the calling greenlet. A kill or a `Timeout` delivered to
 * it aborts the request at once (the server sees the connection close); a
 * `Timeout` the greenlet survives leaves its later requests alone. Reading
 * the body — `text()`, `json()`, … (switch points too) or the `res.body`
 * stream — is stopped by a kill and by a `withTimeout` deadline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchFetch, unpatchAll } from "../patch.ts";
 * patchFetch();
 * // const res = await withTimeout(1000, () => fetch(url));
 * assert.ok(isPatched("fetch"));
 * unpatchAll();
 * ```
 */
export function patchFetch(): void {
  const original = resolvePath("fetch") as typeof fetch | undefined;
  if (typeof original !== "function") return;
  install(
    "fetch",
    globalThis,
    "fetch",
    function fetch(input: Request | string | URL, init?: RequestInit) {
      const req = input instanceof Request ? input : null;
      const method = init?.method ?? req?.method ?? "GET";
      const url = req !== null ? req.url : String(input);
      const what = `fetch ${method.toUpperCase()} ${url}`;
      const link = opLink(init?.signal ?? req?.signal);
      return trackOp(
        what,
        () =>
          original(input, { ...init, signal: link.signal }).then(
            (res) => trackBody(res, what, link),
            (e) => {
              link.release();
              throw e;
            },
          ),
        (reason) => link.abort(reason),
      );
    },
  );
}

function describeArg(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Routes Deno's signal-aware async APIs through the hub: `Deno.readFile`,
 * `Deno.readTextFile`, `Deno.writeFile`, `Deno.writeTextFile` and
 * `new Deno.Command(…).output()` become switch points that a kill or
 * `Timeout` aborts at once (a command's process is killed). A no-op on Node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchDeno, unpatchAll } from "../patch.ts";
 * patchDeno();
 * assert.ok(isPatched("Deno.readFile"));
 * unpatchAll();
 * ```
 */
export function patchDeno(): void {
  if (denoNs === undefined) return;
  for (
    const [name, optIndex] of [
      ["readFile", 1],
      ["readTextFile", 1],
      ["writeFile", 2],
      ["writeTextFile", 2],
    ] as const
  ) {
    const original = denoNs[name];
    if (typeof original !== "function") continue;
    install(`Deno.${name}`, denoNs, name, function (...args: unknown[]) {
      const opts = (args[optIndex] ?? {}) as { signal?: AbortSignal };
      const link = opLink(opts.signal);
      args[optIndex] = { ...opts, signal: link.signal };
      return linkedOp(
        `Deno.${name}(${describeArg(args[0])})`,
        link,
        () => original.apply(denoNs, args),
      );
    });
  }
  if (OriginalCommand !== undefined) {
    const Base = OriginalCommand;
    class Command extends Base {
      #link: OpLink;
      #what: string;
      constructor(cmd: string | URL, opts?: { signal?: AbortSignal }) {
        const link = opLink(opts?.signal);
        super(cmd, { ...opts, signal: link.signal });
        this.#link = link;
        this.#what = `Deno.Command(${describeArg(String(cmd))}).output()`;
        releaseWith(link, this);
      }
      override output(): Promise<unknown> {
        const link = this.#link;
        return trackOp(
          this.#what,
          () => super.output(),
          (reason) => link.abort(reason),
        );
      }
      override spawn(): object {
        const child = super.spawn();
        releaseWith(this.#link, child); // the command may be dropped first
        return child;
      }
    }
    install("Deno.Command", denoNs, "Command", Command);
  }
}
