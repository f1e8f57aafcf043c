/**
 * A web crawler: a `Pool(4)` fetches at most four pages at once.
 *
 * It starts its own HTTP server on 127.0.0.1 (an ephemeral port) serving a
 * site of 30 pages that link to each other: four of them answer after
 * 50 ms, and /page/13 never answers. The crawl starts at "/".
 *
 * `pool.imap(fetchPage, frontier())` does the work: `frontier()` is an async
 * generator of the paths to fetch, pulled one path per free slot of the
 * pool; when it has none left while pages are still being fetched, it waits
 * (an `Event`) for the links those pages bring. Each fetch runs under
 * `withTimeout`, whose signal aborts the request at the deadline, so the
 * silent page costs one timeout and nothing more. `imap` hands the results
 * over in the order the paths were pulled, so the output — and with it the
 * order in which new links are queued — is the same on every run; only the
 * elapsed time varies. The fetches themselves overlap: the summary shows a
 * peak of four at once, never more.
 *
 * Run: `deno run --allow-net=127.0.0.1 examples/07_crawler.ts`
 *
 * @module
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Event, getCurrentSignal, Pool, withTimeout } from "../mod.ts";

const PAGES = 30;
const SLOW = new Set([7, 14, 21, 28]);
const SLOW_MS = 50;
const SILENT = 13;
const TIMEOUT_MS = 500;

const pathOf = (page: number) => page === 0 ? "/" : `/page/${page}`;

/** "/" links to pages 1-5, each of those to five more; all link back. */
function linksOf(page: number): number[] {
  if (page === 0) return [1, 2, 3, 4, 5];
  const links = [0];
  if (page <= 5) {
    for (let p = 5 * page + 1; p <= Math.min(5 * page + 5, PAGES - 1); p++) {
      links.push(p);
    }
  } else links.push((page % 5) + 1);
  return links;
}

// ---- the site
const silent: ServerResponse[] = [];
const server = createServer((req, res) => {
  const m = req.url?.match(/^\/(?:page\/(\d+))?$/);
  const page = m ? Number(m[1] ?? 0) : -1;
  if (page < 0 || page >= PAGES) {
    res.writeHead(404, { connection: "close" }).end("not found\n");
    return;
  }
  if (page === SILENT) {
    silent.push(res); // never answers
    return;
  }
  const html = linksOf(page)
    .map((p) => `<a href="${pathOf(p)}">${pathOf(p)}</a>`)
    .join("\n");
  setTimeout(() => {
    res.writeHead(200, { "content-type": "text/html", connection: "close" })
      .end(`<html><body>\n${html}\n</body></html>\n`);
  }, SLOW.has(page) ? SLOW_MS : 0);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// ---- the crawler
interface Page {
  path: string;
  status: number | "timeout";
  links: string[];
}

let running = 0;
let peak = 0;

async function fetchPage(path: string): Promise<Page> {
  peak = Math.max(peak, ++running);
  try {
    return await withTimeout(TIMEOUT_MS, async (): Promise<Page> => {
      // the scope's signal aborts the request at the deadline
      const res = await fetch(base + path, { signal: getCurrentSignal() });
      const html = await res.text();
      const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
      return { path, status: res.status, links };
    }, { timeoutValue: { path, status: "timeout", links: [] } as Page });
  } finally {
    running--;
  }
}

const queue = ["/"];
const seen = new Set(queue);
let pending = 0; // pulled, result not seen yet
const moreLinks = new Event();

/** The paths to fetch, as the pool asks for them; ends when all are done. */
async function* frontier(): AsyncGenerator<string> {
  for (;;) {
    const path = queue.shift();
    if (path !== undefined) {
      pending++;
      yield path;
    } else if (pending === 0) {
      return;
    } else {
      moreLinks.clear();
      await moreLinks.wait(); // for the links of the pages being fetched
    }
  }
}

const started = performance.now();
const pool = new Pool(4);
let n = 0;
let fetched = 0;
let timeouts = 0;
try {
  for await (const page of pool.imap(fetchPage, frontier())) {
    n++;
    pending--;
    if (page.status === "timeout") {
      timeouts++;
      console.log(`[${n}] ${page.path} -> timeout after ${TIMEOUT_MS} ms`);
    } else {
      fetched++;
      console.log(
        `[${n}] ${page.path} -> ${page.status}, ${page.links.length} links`,
      );
    }
    for (const link of page.links) {
      if (!seen.has(link)) {
        seen.add(link);
        queue.push(link);
      }
    }
    moreLinks.set();
  }
} finally {
  for (const res of silent) res.destroy();
  await new Promise((r) => server.close(r));
}
const elapsed = Math.round(performance.now() - started);
console.log(
  `crawled ${n} pages: ${fetched} fetched, ${timeouts} timed out, ` +
    `peak concurrency ${peak} (Pool(${pool.capacity})), ${elapsed} ms`,
);
