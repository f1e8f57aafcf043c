"""Real gevent in `deno task bench:compare`: the same workloads as the
JavaScript implementations, one per process.

Run: /usr/bin/python3 bench/compare/gevent_impl.py W1 '{"greenlets": 2, "rounds": 1000000}'
Prints one JSON line {impl, workload, how, metrics} (or {error} and exit 1).

W4 reports the RSS growth per greenlet (VmRSS, after gc.collect()) of a first
batch of blocked greenlets, and the tracemalloc growth per greenlet of a
second batch (tracemalloc sees Python's allocators, including the greenlets'
saved C stacks, but not the interpreter's frame chunks: the RSS figure is the
one compared). W8 monkey-patches the socket module (patch_all, before
http.client is imported) and keeps a pool of keep-alive HTTPConnections.
"""
import gc
import json
import sys
import time

WORKLOAD = sys.argv[1]
PARAMS = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}

if WORKLOAD == "W8":
    from gevent import monkey

    monkey.patch_all()

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.queue import Queue  # noqa: E402


def check(ok, what):
    if not ok:
        raise AssertionError("check failed: " + what)


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no " + field + " in /proc/self/status")


def yields(greenlets, rounds):
    count = 0

    def body():
        nonlocal count
        for _ in range(rounds):
            gevent.sleep(0)
            count += 1

    t0 = time.perf_counter()
    gs = [gevent.spawn(body) for _ in range(greenlets)]
    gevent.joinall(gs, raise_error=True)
    s = time.perf_counter() - t0
    check(count == greenlets * rounds, "%d sleeps" % count)
    return "gevent.sleep(0)", {"rate": count / s}


def spawn_join(n):
    t0 = time.perf_counter()
    gs = [gevent.spawn(lambda i: i, i) for i in range(n)]
    gevent.joinall(gs, raise_error=True)
    s = time.perf_counter() - t0
    total = sum(g.value for g in gs)
    check(total == n * (n - 1) // 2, "sum %d" % total)
    return "spawn + joinall", {"rate": n / s, "peakRssMiB": status_kib("VmHWM") / 1024}


def blocked_batch(n, measure):
    ev = Event()
    waiting = 0

    def body():
        nonlocal waiting
        waiting += 1
        return ev.wait()

    gevent.sleep(0)
    gc.collect()
    before = measure()
    gs = [gevent.spawn(body) for _ in range(n)]
    gevent.sleep(0)
    gc.collect()
    during = measure()
    check(waiting == n and not any(g.dead for g in gs), "%d waiting" % waiting)
    ev.set()
    gevent.joinall(gs, raise_error=True)
    check(all(g.value is True for g in gs), "every wait returned True")
    return (during - before) / n


def idle_bytes(n):
    rss = blocked_batch(n, lambda: status_kib("VmRSS") * 1024)
    import tracemalloc

    tracemalloc.start()
    heap = blocked_batch(n, lambda: tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    return "Event.wait()", {"rssBytes": rss, "heapBytes": heap}


def semaphore(greenlets, total):
    sem = Semaphore(1)
    each = total // greenlets
    held = 0
    count = 0

    def body():
        nonlocal held, count
        for _ in range(each):
            sem.acquire()
            try:
                check(held == 0, "one holder")
                held += 1
                gevent.sleep(0)
                held -= 1
                count += 1
            finally:
                sem.release()

    t0 = time.perf_counter()
    gs = [gevent.spawn(body) for _ in range(greenlets)]
    gevent.joinall(gs, raise_error=True)
    s = time.perf_counter() - t0
    check(count == total, "%d acquisitions" % count)
    return "Semaphore(1) acquire/release", {"rate": total / s}


def queue(n, maxsize):
    q = Queue(maxsize)
    total = 0

    def producer():
        for i in range(n):
            q.put(i)

    def consumer():
        nonlocal total
        for _ in range(n):
            total += q.get()

    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(producer), gevent.spawn(consumer)], raise_error=True)
    s = time.perf_counter() - t0
    check(total == n * (n - 1) // 2, "sum %d" % total)
    how = "Queue() put/get" if maxsize is None else "Queue(%d) put/get" % maxsize
    return how, {"rate": n / s}


def sleeps(greenlets, count, ms):
    done = 0

    def body():
        nonlocal done
        for _ in range(count):
            gevent.sleep(ms / 1000)
        done += 1

    t0 = time.perf_counter()
    gs = [gevent.spawn(body) for _ in range(greenlets)]
    gevent.joinall(gs, raise_error=True)
    wall = (time.perf_counter() - t0) * 1000
    check(done == greenlets, "%d done" % done)
    return "gevent.sleep(%g)" % (ms / 1000), {"wallMs": wall, "overheadMs": wall - count * ms}


def fan_out(n, concurrency, port):
    import http.client

    idle = []  # keep-alive connections not in use (at most `concurrency`)

    def get():
        conn = idle.pop() if idle else http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/")
        res = conn.getresponse()
        body = res.read()
        if res.status != 200 or body != b"ok\n":
            raise RuntimeError("GET: %d %r" % (res.status, body))
        idle.append(conn)
        return 1

    pool = Pool(concurrency)
    ok = 0

    def job():
        nonlocal ok
        answered = get()  # not `ok += get()`: ok would be read before the switch
        ok += answered

    t0 = time.perf_counter()
    for _ in range(n):
        pool.spawn(job)
    pool.join(raise_error=True)
    s = time.perf_counter() - t0
    check(ok == n, "%d responses" % ok)
    for conn in idle:
        conn.close()
    return "Pool(%d).spawn + http.client keep-alive" % concurrency, {"rate": n / s}


def run(workload, p):
    if workload in ("W1", "W2"):
        return yields(p["greenlets"], p["rounds"])
    if workload == "W3":
        return spawn_join(p["n"])
    if workload == "W4":
        return idle_bytes(p["n"])
    if workload == "W5":
        return semaphore(p["greenlets"], p["total"])
    if workload == "W6a":
        return queue(p["n"], 1)
    if workload == "W6b":
        return queue(p["n"], None)
    if workload == "W7":
        return sleeps(p["greenlets"], p["sleeps"], p["ms"])
    if workload == "W8":
        return fan_out(p["n"], p["concurrency"], p["port"])
    raise ValueError("unknown workload " + workload)


line = {"impl": "gevent", "workload": WORKLOAD}
try:
    line["how"], line["metrics"] = run(WORKLOAD, PARAMS)
except Exception as e:  # reported to the driver, which shows the run failed
    import traceback

    line["error"] = "".join(traceback.format_exception(e))
print(json.dumps(line), flush=True)
sys.exit(1 if "error" in line else 0)
