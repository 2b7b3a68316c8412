"""Web server benchmark on the MicroPython unix port: the real firmware with the virtual
EVSE (EV plugged in, so status deltas flow), GET /status latency (median, p99) and
requests per second while 1 and then 4 WebSocket clients are connected and draining.

Usage: .venv/bin/python bench/web_bench.py [--requests N]"""
import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from test_web_support import Firmware, WsClient  # noqa: E402


def get_status(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    if head[:9] not in (b"HTTP/1.0 ", b"HTTP/1.1 ") or head[9:12] != b"200":
        raise RuntimeError("bad reply %r" % head[:60])
    return json.loads(body)


class WsDrain(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = WsClient("ws://127.0.0.1:%d/ws" % port, timeout=30)
        self.first = json.loads(self.ws.recv())
        self.msgs = 0
        self.stop = False

    def run(self):
        try:
            while not self.stop:
                self.ws.recv()
                self.msgs += 1
        except (OSError, ConnectionError):
            pass


def measure(port, n):
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        get_status(port)
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    lat.sort()
    # concurrent: 4 HTTP clients in parallel
    done = [0]

    def worker(k):
        for _ in range(k):
            get_status(port)
            done[0] += 1

    k = max(1, n // 4)
    th = [threading.Thread(target=worker, args=(k,)) for _ in range(4)]
    t1 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    conc = done[0] / (time.perf_counter() - t1)
    return {
        "median_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "rps": n / total,
        "rps_4_parallel": conc,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=300)
    a = ap.parse_args()
    fw = Firmware(ev=True)
    clients = []
    try:
        get_status(fw.http_port)  # warm up
        print("web bench: firmware on MicroPython unix port, GET /status x %d" % a.requests)
        print("%-10s %10s %10s %10s %16s %12s" % ("ws_clients", "median_ms", "p99_ms", "req/s", "req/s (4 par.)", "ws_msgs"))
        for want in (1, 4):
            while len(clients) < want:
                c = WsDrain(fw.http_port)
                c.start()
                clients.append(c)
            before = sum(c.msgs for c in clients)
            r = measure(fw.http_port, a.requests)
            msgs = sum(c.msgs for c in clients) - before
            print("%-10d %10.2f %10.2f %10.1f %16.1f %12d" % (want, r["median_ms"], r["p99_ms"], r["rps"], r["rps_4_parallel"], msgs))
            alive = get_status(fw.http_port)
            assert alive["evse_connected"] == 1
    finally:
        for c in clients:
            c.stop = True
            c.ws.close()
        fw.stop()


if __name__ == "__main__":
    main()
