"""The crawler of examples/07_crawler.ts, in gevent (for the README's
comparison): a Pool(4) crawls a 30-page site served by this process on
127.0.0.1; four pages answer after 50 ms, /page/13 never answers and costs
one 0.5 s timeout. Run: /usr/bin/python3 bench/gevent/crawler.py (needs gevent, e.g.
Debian's python3-gevent, 22.10.2 here)."""
from gevent import monkey; monkey.patch_all()
import re, time, urllib.request
import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer

PAGES, SLOW, SILENT, TIMEOUT = 30, {7, 14, 21, 28}, 13, 0.5

def path_of(page): return "/" if page == 0 else f"/page/{page}"

def links_of(page):
    if page == 0: return [1, 2, 3, 4, 5]
    links = [0]
    if page <= 5:
        links += range(5 * page + 1, min(5 * page + 5, PAGES - 1) + 1)
    else:
        links.append((page % 5) + 1)
    return links

def app(environ, start_response):
    path = environ["PATH_INFO"]
    page = 0 if path == "/" else int(path.rsplit("/", 1)[1])
    if page == SILENT:
        gevent.sleep(3600)
    if page in SLOW:
        gevent.sleep(0.05)
    html = "\n".join(f'<a href="{path_of(p)}">{path_of(p)}</a>' for p in links_of(page))
    start_response("200 OK", [("content-type", "text/html"), ("connection", "close")])
    return [f"<html><body>\n{html}\n</body></html>\n".encode()]

server = WSGIServer(("127.0.0.1", 0), app, log=None)
server.start()
BASE = f"http://127.0.0.1:{server.server_port}"

def fetch_page(path):
    try:
        with gevent.Timeout(TIMEOUT):
            with urllib.request.urlopen(BASE + path) as res:
                html = res.read().decode()
        return path, res.status, re.findall(r'href="([^"]+)"', html)
    except gevent.Timeout:
        return path, "timeout", []

queue, seen, pending, more_links = ["/"], {"/"}, 0, Event()

def frontier():
    global pending
    while True:
        if queue:
            pending += 1
            yield queue.pop(0)
        elif pending == 0:
            return
        else:
            more_links.clear()
            more_links.wait()

started = time.perf_counter()
fetched = timeouts = n = 0
for n, (path, status, links) in enumerate(Pool(4).imap(fetch_page, frontier()), 1):
    pending -= 1
    if status == "timeout":
        timeouts += 1
        print(f"[{n}] {path} -> timeout after {int(TIMEOUT * 1000)} ms")
    else:
        fetched += 1
        print(f"[{n}] {path} -> {status}, {len(links)} links")
    for link in links:
        if link not in seen:
            seen.add(link)
            queue.append(link)
    more_links.set()
server.stop(timeout=0)
print(f"crawled {n} pages: {fetched} fetched, {timeouts} timed out, "
      f"{round((time.perf_counter() - started) * 1000)} ms")
