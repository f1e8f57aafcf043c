/**
 * A `Deno.Conn` as a `node:stream` Duplex, for `wrap()`: `Conn` reads and
 * writes any Duplex the same way.
 *
 * @module
 */
import { Duplex } from "node:stream";

/** The methods of a `Deno.Conn` the Duplex uses. */
interface DenoConnMethods {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

const CHUNK = 16_384;

/** A Duplex over `conn`: reads of 16 KiB, writes in full, FIN on `end()`. */
export function denoDuplex(conn: DenoConnMethods): Duplex {
  let closed = false;
  const writeAll = async (bytes: Uint8Array): Promise<void> => {
    for (let at = 0; at < bytes.length;) {
      at += await conn.write(bytes.subarray(at));
    }
  };
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      const buf = new Uint8Array(CHUNK);
      conn.read(buf).then(
        (n) => {
          if (!closed) duplex.push(n === null ? null : buf.subarray(0, n));
        },
        (e) => {
          if (!closed) duplex.destroy(e);
        },
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), callback);
    },
    destroy(error, callback) {
      closed = true;
      try {
        conn.close();
      } catch {
        // closed already
      }
      callback(error);
    },
  });
  return duplex;
}
