"""MQTT benchmark: the firmware under MicroPython + virtual EVSE + a real mosquitto.

python bench/mqtt_bench.py [--n 100]

Prints
  * feed message in -> divert input: `emon/grid` published -> the gateway republishes
    `<base>/grid_ie` with that value (MQTT in -> divert.feed -> bus -> MQTT out);
  * message in -> `$SC` out: `<base>/override/set {"charge_current": A}` published ->
    `$SC A V` seen by the virtual EVSE (MQTT -> claims -> EVSE monitor -> RAPI).
    A feed sample itself moves the pilot only when the divert policy says so (at most every
    120 s, docs/divert.md), so the transport figure is this same path;
  * maximum asyncio loop stall (10 ms ticker in the MicroPython process running
    net/mqtt.py) while the broker is killed for 5 s, and while the link is frozen 10 s.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in ("firmware", "tests/system", "tests/tools", "boards/unix"):
    sys.path.insert(0, os.path.join(ROOT, p))

from harness import Rig, wait_for  # noqa: E402
from net import mqtt  # noqa: E402  (the firmware's codec, under CPython)
from test_mqtt_client import PROBE, Broker, Proc, micropython  # noqa: E402

BASE = "emon/openevse"


class RawClient:
    """Minimal blocking MQTT client for the bench side (uses the firmware codec)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.s.sendall(mqtt.connect_pkt("bench", keepalive=60))
        h, body = self.read(5)
        assert h & 0xF0 == 0x20 and body[1] == 0, "CONNACK"

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def read(self, timeout):
        self.s.settimeout(timeout)
        h = self._exact(1)[0]
        n = shift = 0
        while True:
            b = self._exact(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return h, self._exact(n)

    def subscribe(self, topic):
        self.s.sendall(mqtt.subscribe_pkt(1, [topic.encode()]))
        while self.read(5)[0] & 0xF0 != 0x90:
            pass

    def publish(self, topic, msg):
        self.s.sendall(mqtt.publish_pkt(topic.encode(), msg.encode()))

    def wait_publish(self, topic, msg, timeout=5):
        end = time.monotonic() + timeout
        while True:
            h, body = self.read(max(0.01, end - time.monotonic()))
            if h & 0xF0 == 0x30:
                t, m, _, _, _ = mqtt.parse_publish(h & 0x0F, body)
                if t == topic.encode() and m == msg.encode():
                    return

    def close(self):
        self.s.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def show(name, xs):
    print("%-34s n=%3d  median %6.1f ms  p99 %6.1f ms  max %6.1f ms"
          % (name, len(xs), statistics.median(xs), pct(xs, 99), max(xs)))


def bench_latency(n):
    b = Broker()
    b.start()
    rig = None
    try:
        cfg = {"mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": b.port,
               "mqtt_topic": BASE, "mqtt_grid_ie": "emon/grid", "divert_enabled": True}
        rig = Rig(config=cfg)
        rig.wait_connected()
        wait_for(lambda: rig.status().get("mqtt_connected") == 1, 10, what="mqtt")
        rig.plug(True)
        time.sleep(1.0)
        c = RawClient(b.port)
        c.subscribe(BASE + "/grid_ie")
        feed = []
        for i in range(n):
            v = str(-1000 - i)
            t0 = time.monotonic()
            c.publish("emon/grid", v)
            c.wait_publish(BASE + "/grid_ie", v)
            feed.append((time.monotonic() - t0) * 1000)
            time.sleep(0.02)
        show("feed in -> divert input (MQTT out)", feed)
        sc = []
        misses = 0
        for i in range(n):
            amps = 10 + i % 2 * 2
            since = len(rig.sim.log_since(0))
            t0 = time.monotonic()
            c.publish(BASE + "/override/set", json.dumps({"charge_current": amps}))
            end = t0 + 5
            got = None
            while time.monotonic() < end and got is None:
                for e in rig.sim.log_since(since):
                    if e["name"] == "$SC" and e["args"][:1] == [str(amps)]:
                        got = time.monotonic()
                        break
                else:
                    time.sleep(0.001)
            if got is None:
                misses += 1
            else:
                sc.append((got - t0) * 1000)
            time.sleep(0.05)
        show("message in -> $SC out", sc)
        if misses:
            print("  ($SC not seen within 5 s for %d of %d)" % (misses, n))
        c.close()
    finally:
        if rig:
            rig.close()
        b.stop()


def bench_stall():
    import tempfile

    tmp = tempfile.mkdtemp(prefix="mqttbench")
    script = os.path.join(tmp, "probe.py")
    with open(script, "w") as f:
        f.write(PROBE)
    flag = os.path.join(tmp, "freeze")
    b = Broker()
    b.start()
    proxy = Proc([sys.executable, os.path.join(ROOT, "tests", "tools", "freezeproxy.py"),
                  "--target", "127.0.0.1:%d" % b.port, "--flag", flag])
    try:
        _, _, line = proxy.wait_for(lambda l: l.startswith("LISTEN"), 10)
        pport = int(line.split()[1])
        for kind in ("broker killed 5 s", "link frozen 10 s"):
            port = b.port if kind.startswith("broker") else pport
            p = micropython(script, {"MQTT_PORT": str(port), "MQTT_KA": "4", "MQTT_PUB_MS": "100"})
            try:
                i, _, _ = p.wait_for(lambda l: l.startswith("UP"), 10)
                if kind.startswith("broker"):
                    b.kill()
                    time.sleep(5)
                    t_back = b.start()
                else:
                    open(flag, "w").close()
                    time.sleep(10)
                    os.remove(flag)
                    t_back = time.time()
                j, t_up, _ = p.wait_for(lambda l: l.startswith("UP"), 20, i + 1)
                time.sleep(0.6)
                stall = [int(l.split()[1]) for _, l in p.lines if l and l.startswith("STALL")][-1]
                print("%-34s max loop stall %3d ms; up again %.1f s after the fault ended"
                      % (kind, stall, max(0.0, t_up - t_back)))
            finally:
                p.stop()
    finally:
        proxy.stop()
        b.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    a = ap.parse_args()
    bench_latency(a.n)
    bench_stall()


if __name__ == "__main__":
    main()
