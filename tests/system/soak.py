"""The memory soak (no tests in here; tests/system/test_soak.py and bench/memory_bench.py run it).

The firmware runs in one of the harness forms (normally on the ESP32-profile runtime) with
everything a busy home gives it: the web UI's two WebSocket clients, /status polled every
second, MQTT with Home Assistant discovery and a 1 Hz grid feed, Emoncms posting, Eco mode,
and EV plug / charge / unplug cycles, the current shaper fed its house power each second; once per
run a WiFi scan and a /config save. It records
the gateway's own heap samples (housekeeping task: a collection every 2 s) and the lowest free
heap of each cycle, and the median of its used heap (the typical live set: what a leak raises;
the lowest sample is one moment's transient, several requests and messages in flight at once).
Used, not free: where the heap grows into PSRAM the GC adds and returns areas as it goes, so the
free heap moves by an area's size with no change in what is live."""
import json
import os
import subprocess
import sys
import threading
import time

from harness import ROOT, Rig, wait_for
from mosquitto import Broker
from test_web_support import WsClient

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from fake_emoncms import WRITE_KEY, FakeEmoncms  # noqa: E402

SERVICES = {
    # name: what is switched on (see config())
    "web": "web UI (2 WebSockets, /status polling), Eco with a 1 Hz HTTP feed",
    "mqtt": "web + MQTT with Home Assistant discovery and a 1 Hz MQTT grid feed",
    "all": "web + MQTT (HA discovery, 1 Hz feed) + Emoncms posting",
}


def config(services, broker_port=None, emoncms_url=None):
    # the current shaper on, with a limit the soak's EV never reaches (its code runs, it never
    # pauses the divert cycles): the house power is posted each tick as Home Assistant does
    d = {"divert_enabled": True, "charge_mode": "eco", "current_shaper_enabled": True,
         "current_shaper_max_pwr": 20000}
    if services in ("mqtt", "all"):
        d.update({"mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": broker_port,
                  "mqtt_topic": "soak", "mqtt_grid_ie": "soak/grid", "ha_discovery": True,
                  "mqtt_live_pwr": "soak/house",
                  "mqtt_announce_topic": "openevse/announce/soak"})
    if services == "all":
        d.update({"emoncms_enabled": True, "emoncms_server": emoncms_url,
                  "emoncms_apikey": WRITE_KEY, "emoncms_node": "soak"})
    return d


class _Ws(threading.Thread):
    """A WebSocket client like the UI: pings every 5 s and drains what the gateway pushes."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = False
        self.msgs = 0
        self.reconnects = 0
        self.error = None

    def run(self):
        ws = None
        last_ping = 0
        while not self.stop:
            try:
                if ws is None:
                    ws = WsClient("ws://127.0.0.1:%d/ws" % self.port, timeout=10)
                    json.loads(ws.recv())
                if time.monotonic() - last_ping > 5:
                    ws.send('{"ping":1}')
                    last_ping = time.monotonic()
                ws.sock.settimeout(1)
                try:
                    ws.recv()
                    self.msgs += 1
                except OSError:
                    pass
            except (OSError, ConnectionError, ValueError) as e:
                self.error = repr(e)
                self.reconnects += 1
                ws = None
                time.sleep(0.5)
        if ws is not None:
            ws.close()


class Soak:
    """run() -> result dict: ok, why, total, lowest (bytes), curve [(cycle, lowest free)],
    samples [(t, free, used)], counters. form: a harness form; services: a SERVICES key."""

    def __init__(self, form="mpy", services="all", cycles=4, cycle_s=30, heap=None, env=None):
        self.env = env
        self.form = form
        self.services = services
        self.cycles = cycles
        self.cycle_s = cycle_s
        self.heap = heap

    def run(self):
        res = {"form": self.form, "services": self.services, "ok": False, "why": "",
               "curve": [], "typical": [], "samples": [], "lowest": None, "total": None}
        broker = fake = feeder = rig = None
        wss = []
        try:
            if self.services in ("mqtt", "all"):
                broker = Broker()
                broker.start()
            if self.services == "all":
                fake = FakeEmoncms(prefix="/emoncms").start()
            rig = Rig(config=config(self.services, broker and broker.port, fake and fake.url),
                      form=self.form, heap=self.heap, env=self.env)
            try:
                rig.wait_connected(timeout=20)
                if broker:
                    wait_for(lambda: rig.status().get("mqtt_connected") == 1, 15, what="MQTT up")
            except AssertionError as e:
                res["why"] = "did not come up: " + str(e).split("\n")[0]
                return res
                feeder = subprocess.Popen(
                    ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                     "soak/grid", "-l"], stdin=subprocess.PIPE, text=True)
            wss = [_Ws(rig.http_port) for _ in range(2)]
            for w in wss:
                w.start()
            t0 = time.monotonic()
            scanned = saved = False
            for cycle in range(self.cycles):
                frees, useds = [], []
                rig.plug(True)
                c0 = time.monotonic()
                while time.monotonic() - c0 < self.cycle_s:
                    phase = (time.monotonic() - c0) / self.cycle_s
                    if phase > 0.8:
                        rig.plug(False)
                    # surplus rises and falls over the cycle: divert starts, tracks, holds
                    grid = -int(2000 + 3000 * (1 - abs(2 * phase - 1)))
                    if feeder:
                        feeder.stdin.write("%d\n" % grid)
                        feeder.stdin.flush()
                    else:
                        rig.post("/status", {"grid_ie": grid})
                    code, st = rig.post("/status", {"shaper_live_pwr": 500 + int(8000 * phase)},
                                        timeout=5)
                    if code != 200:
                        res["why"] = "POST /status shaper_live_pwr -> %s %r" % (code, str(st)[:200])
                        return res
                    code, st = rig.get("/status", timeout=5)
                    if code != 200 or not isinstance(st, dict):
                        res["why"] = "/status -> %s %r" % (code, str(st)[:200])
                        return res
                    free, used = st["free_heap"], st["heap_used"]
                    res["samples"].append((round(time.monotonic() - t0, 1), free, used))
                    res["total"] = max(res["total"] or 0, free + used)
                    frees.append(free)  # this cycle's own samples
                    useds.append(used)
                    if not scanned and cycle == 0 and phase > 0.5:
                        scanned = rig.get("/scan", timeout=10)[0] == 200
                    if not saved and cycle == 1 and phase > 0.5:
                        saved = rig.post("/config", {"led_brightness": 100 + cycle})[0] == 200
                    time.sleep(1)
                useds.sort()
                res["curve"].append((cycle, min(frees) if frees else None))
                res["typical"].append((cycle, useds[len(useds) // 2] if useds else None))
                if rig.fw.poll() is not None:
                    res["why"] = "firmware exited %s" % rig.fw.poll()
                    return res
            st = rig.status()
            res["lowest"] = st["heap_min"]
            res["ws_msgs"] = [w.msgs for w in wss]
            res["ws_reconnects"] = [w.reconnects for w in wss]
            res["scan"], res["save"] = scanned, saved
            if fake is not None:
                res["emoncms_posts"] = len(fake.posts)
            if st.get("evse_connected") != 1:
                res["why"] = "EVSE link lost"
            elif broker and st.get("mqtt_connected") != 1:
                res["why"] = "MQTT link lost"
            elif not scanned or not saved:
                res["why"] = "scan or config save failed"
            else:
                res["ok"] = True
            return res
        finally:
            for w in wss:
                w.stop = True
            for w in wss:
                w.join(5)
            if feeder is not None:
                feeder.stdin.close()
                feeder.wait(5)
            if rig is not None:
                log = rig.log()
                rig.close()
                res["log"] = log[-3000:]
                if "MemoryError" in log:
                    res["ok"] = False
                    res["why"] = "MemoryError" + (" (then %s)" % res["why"] if res["why"] else "")
            if fake is not None:
                fake.stop()
            if broker is not None:
                broker.stop()


def trend(curve):
    """Least-squares slope (bytes per cycle) of a per-cycle figure (lowest free or median used),
    after the first cycle (warm-up: caches, first connections)."""
    pts = [(c, v) for c, v in curve[1:] if v is not None]
    n = len(pts)
    if n < 2:
        return 0.0
    mx = sum(c for c, _ in pts) / n
    my = sum(v for _, v in pts) / n
    den = sum((c - mx) ** 2 for c, _ in pts)
    return sum((c - mx) * (v - my) for c, v in pts) / den if den else 0.0


MIN_FREE_PCT = 20
# The median used heap of the last cycle may sit this much above the second's. A leak shows in
# the median; the lowest sample does not tell one: under make test's load it moved 2.3 KB between
# cycles (CI, 2026-11-30: 56,736 / 58,192 / 55,920 B) while the medians stay within ~300 B. Nor
# does the free heap where areas come and go (PSRAM, CI 2026-11-30: the median free fell 5 KB
# when the GC returned an area, with the used heap flat).
TREND_BYTES = 1024


def check(r, total):
    """The soak tests' verdict on a run: no MemoryError, at least MIN_FREE_PCT of the heap free
    at the lowest point, no upward trend of the median used heap from the second cycle to the
    last."""
    assert r["ok"], "%s/%s: %s\n--- firmware log (tail) ---\n%s" % (
        r["form"], r["services"], r["why"], r.get("log", ""))
    lows = [v for _, v in r["curve"]]
    meds = [v for _, v in r["typical"]]
    print("\n%s, %s: total %d, lowest free %d (%.1f %%), lowest free per cycle %s, median used per "
          "cycle %s, "
          "emoncms posts %s, ws messages %s" % (
              r["form"], r["services"], total, r["lowest"], 100.0 * r["lowest"] / total, lows, meds,
              r.get("emoncms_posts"), r.get("ws_msgs")))
    assert r["lowest"] * 100 >= total * MIN_FREE_PCT, "only %d of %d bytes free" % (r["lowest"], total)
    assert meds[-1] <= meds[1] + TREND_BYTES, "median used heap grows from cycle to cycle: %s" % meds
    assert r["emoncms_posts"] >= 2 and min(r["ws_msgs"]) > 10
