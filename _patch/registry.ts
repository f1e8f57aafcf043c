/**
 * Owns the patch registry: every global property gevent-ts replaced, and
 * how to put it back exactly as it was.
 *
 * @module
 */

/** One replaced property. */
interface Patch {
  target: object;
  key: string;
  descriptor: PropertyDescriptor | undefined;
}

/** Every installed patch by name. */
export const patches: Map<string, Patch> = new Map();

/** Replaces `target[key]` by `value` under `name`, once. */
export function install(
  name: string,
  target: object,
  key: string,
  value: unknown,
): void {
  if (patches.has(name)) return;
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  patches.set(name, { target, key, descriptor });
  Object.defineProperty(target, key, {
    value,
    writable: true,
    configurable: true,
    enumerable: descriptor?.enumerable ?? false,
  });
}

/** Puts the property patched under `name` back. */
export function restore(name: string): void {
  const p = patches.get(name);
  if (p === undefined) return;
  patches.delete(name);
  if (p.descriptor !== undefined) {
    Object.defineProperty(p.target, p.key, p.descriptor);
  } else {
    delete (p.target as Record<string, unknown>)[p.key];
  }
}

/** The value at a global path such as `"Deno.readFile"`. */
export function resolvePath(name: string): unknown {
  let v: unknown = globalThis;
  for (const part of name.split(".")) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Deno's namespace, or undefined on Node. */
export const denoNs: Record<string, unknown> | undefined =
  (globalThis as { Deno?: Record<string, unknown> }).Deno;

/** `Deno.Command` as it was when gevent-ts loaded (undefined on Node). */
/** The constructor type of `Deno.Command`, as far as gevent-ts uses it. */
export type CommandClass = new (
  cmd: string | URL,
  opts?: { signal?: AbortSignal },
) => { output(): Promise<unknown>; spawn(): object };

/** `Deno.Command` as it was when gevent-ts loaded (undefined on Node). */
export const OriginalCommand: CommandClass | undefined = denoNs?.Command as
  | CommandClass
  | undefined;
