"""MQTT benchmark: the firmware under MicroPython + virtual EVSE + a real mosquitto.

python bench/mqtt_bench.py [--n 100]

Prints
  * feed message in -> divert input: `emon/grid` published -> the gateway republishes
    `<base>/grid_ie` with that value (MQTT in -> divert.feed -> bus -> MQTT out);
  * message in -> `$SC` out: `<base>/override/set {"charge_current": A}` published ->
    `$SC A V` seen by the virtual EVSE (MQTT -> claims -> EVSE monitor -> RAPI).
    A feed sample itself moves the pilot only when the divert policy says so (at most every
    120 s, docs/divert.md), so the transport figure is this same path;
  * feed message in -> `$SC` out for real divert decisions: eco mode with the pilot change
    hold at its 10 s minimum, a grid feed published every second (closed loop on the EV's
    draw) whose surplus alternates between ~8 A and ~14 A; each `$SC` the controller sends
    is timed from the feed message just before it (the one that tipped the decision);
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
from mosquitto import Broker  # noqa: E402
from test_mqtt_client import PROBE, Proc, micropython  # noqa: E402

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


def bench_feed_to_sc(decisions):
    """Each round: ~12 s of steady surplus (one feed a second, closed loop on the EV's draw),
    then one feed with a 6 A step; the time from publishing that feed to the `$SC` the
    virtual EVSE executes is the latency (the decision may come from the feed itself or from
    the controller's next 1 s update: both are part of the path)."""
    b = Broker()
    b.start()
    rig = None
    try:
        cfg = {"mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": b.port,
               "mqtt_topic": BASE, "mqtt_grid_ie": "emon/grid", "divert_type": 1,
               "divert_start_time": 0, "divert_change_time": 10}
        rig = Rig(config=cfg)
        rig.wait_connected()
        wait_for(lambda: rig.status().get("mqtt_connected") == 1, 10, what="mqtt")
        rig.plug(True)
        wait_for(lambda: rig.evse()["state"] == 3, 10, what="charging")
        c = RawClient(b.port)
        t0_sim = rig.sim._t0  # sim log times are ms since this monotonic instant
        c.publish(BASE + "/divertmode/set", "2")

        def feed(surplus_a):
            ev_w = rig.evse()["ev_amps_ma"] * 240 // 1000
            c.publish("emon/grid", str(int(ev_w - surplus_a * 240)))
            return time.monotonic()

        lat = []
        missed = 0
        level = 8.5
        for _ in range(decisions):
            for _ in range(12):
                feed(level)
                time.sleep(1.0)
            level = 14.5 if level == 8.5 else 8.5
            since = len(rig.sim.log_since(0))
            t_pub = feed(level)
            got = None
            while got is None and time.monotonic() - t_pub < 3.0:
                for e in rig.sim.log_since(since):
                    if e["name"] == "$SC" and e["reply"]:
                        got = t0_sim + e["t_ms"] / 1000.0
                        break
                else:
                    time.sleep(0.002)
            if got is None:
                missed += 1
            else:
                lat.append((got - t_pub) * 1000)
        if lat:
            show("feed in -> $SC out (divert step)", lat)
        if missed:
            print("  (no $SC within 3 s of the step in %d of %d rounds: the change budget held it)"
                  % (missed, decisions))
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
    ap.add_argument("--decisions", type=int, default=8)
    a = ap.parse_args()
    bench_latency(a.n)
    bench_feed_to_sc(a.decisions)
    bench_stall()


if __name__ == "__main__":
    main()
