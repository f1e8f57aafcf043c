/**
 * Runs the tutorial's five programs in order, then the examples of queues
 * and pools, a retry policy, a thread pool and the servers (HTTP, TCP), each under a heading
 * (`npm start`, `deno task demo`). The Express example needs Express's own
 * permissions and runs from test/examples_test.ts:
 * `deno run --allow-net=127.0.0.1 --allow-env --allow-read examples/http_express.ts`.
 *
 * @module
 */

const programs: [string, string, () => Promise<unknown>][] = [
  ["01_switch.ts", "switching with sleep(0)", () => import("./01_switch.ts")],
  [
    "02_blocking.ts",
    "a blocking call serialises greenlets",
    () => import("./02_blocking.ts"),
  ],
  [
    "03_cooperative.ts",
    "the cooperative version",
    () => import("./03_cooperative.ts"),
  ],
  ["04_fetch.ts", "concurrent HTTP requests", () => import("./04_fetch.ts")],
  ["05_semaphore.ts", "a Semaphore", () => import("./05_semaphore.ts")],
  [
    "06_producer_consumer.ts",
    "producer and consumers over a bounded Queue",
    () => import("./06_producer_consumer.ts"),
  ],
  [
    "07_crawler.ts",
    "a crawler: Pool(4) over its own 30-page site",
    () => import("./07_crawler.ts"),
  ],
  [
    "12_retry.ts",
    "a retry policy with back-off on moveOnAfter, in virtual time",
    () => import("./12_retry.ts"),
  ],
  [
    "13_threadpool.ts",
    "200 MiB hashed in a ThreadPool while a greenlet ticks, then on the hub",
    () => import("./13_threadpool.ts"),
  ],
  [
    "10_http_server.ts",
    "a JSON API on serve(): a greenlet per request, a fan-out under deadlines",
    () => import("./10_http_server.ts"),
  ],
  [
    "11_chat_server.ts",
    "a TCP chat on StreamServer: a Queue per client, slow clients dropped",
    () => import("./11_chat_server.ts"),
  ],
  [
    "http_hono.ts",
    "Hono on serve(): quiet aborts, onError for real failures only",
    () => import("./http_hono.ts"),
  ],
];

for (const [file, title, load] of programs) {
  console.log(`\n=== ${file}: ${title} ===`);
  await load();
}
