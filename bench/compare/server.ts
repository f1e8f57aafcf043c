/**
 * The loopback HTTP server of `bench:compare`'s W8, run by Node in its own
 * process: answers every request with `200 ok\n` (3 bytes, content-length
 * set, keep-alive held 60 s), listens on 127.0.0.1 at an ephemeral port and
 * prints `{"port": N}` once listening; counts the requests it served and
 * prints `{"served": N}` on SIGTERM before it exits.
 *
 * @module
 */
import { createServer } from "node:http";
import process from "node:process";

let served = 0;
const server = createServer((_req, res) => {
  served++;
  res.writeHead(200, { "content-type": "text/plain", "content-length": "3" });
  res.end("ok\n");
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("?");
  console.log(JSON.stringify({ port: address.port }));
});
process.on("SIGTERM", () => {
  console.log(JSON.stringify({ served }));
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
