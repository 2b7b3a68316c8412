"""The fault and attack suite (issue 11; no tests in here: tests/system/test_faults.py runs
it small inside `make test`, bench/faults_bench.py at full size for `make faults` and
`make bench`). docs/faults.md says what each row does and counts.

The firmware runs under MicroPython (harness Rig) against the virtual EVSE, with a real
mosquitto, the fake Emoncms and the simulated radio; everything stays on 127.0.0.1. For each
fault or attack the suite counts:
  tried      injections or requests
  survived   after which the gateway was still serving, had not restarted, the link it
             needs was back and the attack had no effect (a 5xx answer counts as not survived)
  lost       what the gateway had accepted (settings, the asked charge state, a command)
             and then no longer had, or never applied
  safety     a charge current commanded or set outside [6 A, max] (max: the controller's
             16 A; its hardware allows 32 A), or a charge that started while the gateway
             had been asked to pause and the controller had already paused
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness import ROOT, Rig, free_port, wait_for
from mosquitto import Broker

for _p in ("firmware", "tests/tools"):
    if os.path.join(ROOT, _p) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _p))
import claims  # noqa: E402  (the firmware's own rules decide what the fuzz must not send)
import config_rules  # noqa: E402
from fake_emoncms import WRITE_KEY, FakeEmoncms  # noqa: E402
from net import mqtt as mqttcodec  # noqa: E402  (the firmware's packet codec, under CPython)
from web.app import ROUTES  # noqa: E402

MAX_A = 16  # the controller's own maximum (EEPROM); its hardware maximum is 32 A
BASE = "fz"
GRID = "fz/grid"
QUICK = {"rapi_s": 16, "saves": 4, "saves_p": 0.0, "silences": 1, "reboots": 1, "broker": 2,
         "emoncms": 1, "wifi": 1, "cuts": 8, "http": 300, "mqtt": 150}
FULL = {"rapi_s": 120, "saves": 20, "saves_p": 0.05, "silences": 5, "reboots": 5, "broker": 10,
        "emoncms": 5, "wifi": 5, "cuts": 200, "http": 2000, "mqtt": 1000}
SAME = {"Origin": None}  # placeholder: filled with the rig's own origin


class Row:
    def __init__(self, name):
        self.name = name
        self.tried = self.survived = self.lost = self.violations = 0
        self.notes = []
        self.problems = []  # what went wrong, for the report

    def fail(self, what):
        if len(self.problems) < 20:
            self.problems.append(what)

    def ok(self):
        return self.survived == self.tried and self.lost == 0 and self.violations == 0


# ---------------------------------------------------------------------------- safety
class Monitor(threading.Thread):
    """Watches the virtual EVSE every 50 ms. A safety violation is
      * the EV drawing more than MAX_A (0.5 A meter tolerance);
      * the pilot outside [6, MAX_A] for longer than EXCURSION_S while an EV is plugged in:
        on a noisy link a damaged command can set the controller itself (two flipped bits
        in one column pass the XOR checksum), and the gateway must notice and undo it;
      * a charge that starts while the gateway is asked to pause and the controller had
        paused (a controller that boots or reboots starts enabled: the gateway must pause
        it again before the EV draws).
    Pilot excursions that were undone in time are counted apart (excursions)."""

    EXCURSION_S = 2.0

    def __init__(self, sim):
        super().__init__(daemon=True)
        self.sim = sim
        self.stop = False
        self.want = "active"
        self.paused_since_ask = True
        self.count = 0
        self.what = []
        self.excursions = []  # seconds each pilot excursion lasted
        self.keep_all = False  # also those over EXCURSION_S (corruption_only)
        self.windows = []  # [sim ms from, sim ms to, pilot A] of each excursion
        self.lock = threading.Lock()

    def ask(self, state):
        with self.lock:
            self.want = state
            self.paused_since_ask = False

    def _bad(self, what):
        self.count += 1
        if len(self.what) < 20:
            self.what.append(what)

    def run(self):
        was = None
        out_since = None  # when the pilot left [6, MAX_A]
        flagged = False  # that excursion is already a violation
        over = False
        while not self.stop:
            try:
                st = self.sim.state()
            except Exception:
                time.sleep(0.05)
                continue
            now = time.monotonic()
            if st["ev_connected"] and not 6 <= st["current_a"] <= MAX_A:
                if out_since is None:
                    out_since = now
                    self.windows.append([st["now_ms"], st["now_ms"], st["current_a"]])
                elif not flagged and now - out_since > self.EXCURSION_S:
                    self._bad("pilot %d A for more than %.0f s" % (st["current_a"], self.EXCURSION_S))
                    flagged = True
            elif out_since is not None:
                self.windows[-1][1] = st["now_ms"]
                if not flagged or self.keep_all:
                    self.excursions.append(now - out_since)
                out_since = None
                flagged = False
            drawing = st["ev_amps_ma"] > MAX_A * 1000 + 500
            if drawing and not over:
                self._bad("EV drew %d mA" % st["ev_amps_ma"])
            over = drawing
            charging = st["state"] == 3
            with self.lock:
                if self.want == "disabled":
                    if not charging:
                        self.paused_since_ask = True
                    elif was is False and self.paused_since_ask:
                        self._bad("charge started while paused on request")
            was = charging
            time.sleep(0.05)


# ---------------------------------------------------------------------------- helpers
def alive(rig, timeout=3):
    """/status answers 200 within timeout s (the process runs)."""
    if rig.fw is None or rig.fw.poll() is not None:
        return None
    try:
        code, s = rig.get("/status", timeout=timeout)
    except Exception:
        return None
    return s if code == 200 and isinstance(s, dict) else None


class Uptime:
    """Notices a restart of the gateway: its uptime going back, or 'main: restarting'."""

    def __init__(self, rig):
        self.rig = rig
        self.last = rig.status()["uptime"]
        self.log_n = len(rig.log())

    def restarted(self):
        s = alive(self.rig)
        if s is None:
            return True
        up = s.get("uptime", 0)
        back = up < self.last
        self.last = up
        return back or "main: restarting" in self.rig.log()[self.log_n:]


def own(rig):
    return {"Origin": "http://127.0.0.1:%d" % rig.http_port}


def ask(rig, mon, state, amps=None):
    body = {"state": state}
    if amps:
        body["charge_current"] = amps
    code, r = rig.post("/override", body, timeout=10)
    if code != 201:
        raise AssertionError("override %r -> %s %r" % (body, code, r))
    mon.ask(state)


def reached(rig, state, amps=None):
    st = rig.evse()
    if state == "disabled":
        return st["state"] in (254, 255)
    return st["state"] == 3 and (amps is None or st["current_a"] == amps)


def snapshot(rig):
    """What an attack must not change: settings, override, claims, limit, divert mode."""
    cfg = rig.get("/config")[1]
    for k in ("emoncms_fingerprint", "firmware", "max_current_soft", "service",
              "diodet", "groundt", "relayt", "ventt", "gfcit", "diode_check", "ground_check",
              "relay_check", "vent_check", "gfci_check"):
        cfg.pop(k, None)  # poked on purpose by the Emoncms row, or read live from the controller
    st = rig.status()
    return {"config": cfg, "override": rig.get("/override")[1], "claims": rig.get("/claims")[1],
            "limit": rig.get("/limit")[1], "divertmode": st["divertmode"]}


def diff(a, b):
    out = []
    for k in a:
        if a[k] != b.get(k):
            if isinstance(a[k], dict):
                ks = [x for x in set(a[k]) | set(b[k]) if a[k].get(x) != b[k].get(x)]
                out.append("%s: %s" % (k, ", ".join("%s %r->%r" % (x, a[k].get(x), b[k].get(x))
                                                    for x in sorted(ks))))
            else:
                out.append("%s: %r -> %r" % (k, a[k], b.get(k)))
    return out


ACTING = ("$FE", "$FS", "$FD", "$FR", "$FF", "$SC", "$S", "$F1")


def acting_cmds(rig, since):
    """Commands that change the controller, executed since log index `since` (the routine
    polls and heartbeat pulses aside)."""
    out = []
    for e in rig.sim.log_since(since):
        n = e["name"]
        if n in ("$SY", "$SV") or n.startswith("$G") or n.startswith("!"):
            continue
        out.append(n + " " + " ".join(e["args"]))
    return out


def raw_http(port, data, timeout=8):
    """Send raw bytes, close our side, read the answer: (status or None, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        buf = b""
        while True:
            try:
                d = s.recv(4096)
            except OSError:
                break
            if not d:
                break
            buf += d
            if len(buf) > 65536:
                break
    finally:
        s.close()
    dt = time.monotonic() - t0
    if buf.startswith(b"HTTP/1.1 "):
        try:
            return int(buf[9:12]), dt
        except ValueError:
            pass
    return None, dt


class MqttPub:
    """A bare MQTT publisher (qos 0) over one socket, with the firmware's own codec; it
    connects again if the broker drops it."""

    def __init__(self, port):
        self.port = port
        self.drops = 0
        self._connect()

    def _connect(self):
        self.s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.s.sendall(mqttcodec.connect_pkt(b"fuzzer-%d" % os.getpid(), keepalive=0))
        if self.s.recv(4)[:1] != b"\x20":
            raise RuntimeError("no CONNACK")

    def pub(self, topic, payload, retain=False):
        try:
            self.s.sendall(mqttcodec.publish_pkt(topic, payload, retain))
        except OSError:
            self.drops += 1
            self.s.close()
            self._connect()
            self.s.sendall(mqttcodec.publish_pkt(topic, payload, retain))

    def close(self):
        try:
            self.s.sendall(mqttcodec.DISCONNECT)
        except OSError:
            pass
        self.s.close()


# ---------------------------------------------------------------------------- rigs
def link_rig(form):
    rig = Rig(sim_kwargs={"ev_connected": True, "max_current": MAX_A}, form=form)
    rig.wait_connected(20)
    return rig


def net_rig(form, broker, emoncms, wlan_file):
    cfg = {"mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": broker.port,
           "mqtt_topic": BASE, "mqtt_grid_ie": GRID, "mqtt_vrms": "fz/vrms",
           "mqtt_announce_topic": "fz/announce", "emoncms_enabled": True,
           "emoncms_server": emoncms.url, "emoncms_apikey": WRITE_KEY, "emoncms_node": "fz",
           "ssid": "HomeNetwork", "pass": "correct horse", "divert_enabled": True}
    rig = Rig(config=cfg, sim_kwargs={"ev_connected": True, "max_current": MAX_A}, form=form,
              env={"SIM_WLAN": wlan_file})
    rig.wait_connected(20)
    wait_for(lambda: rig.status().get("mqtt_connected") == 1, 15, what="MQTT up")
    wait_for(lambda: rig.status().get("emoncms_connected") == 1, 15, what="Emoncms up")
    return rig


def _wlan(path, up):
    nets = [{"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6,
             "password": "correct horse", "up": up}]
    with open(path + ".tmp", "w") as f:
        json.dump({"networks": nets}, f)
    os.rename(path + ".tmp", path)


# ---------------------------------------------------------------------------- rows
def rapi_corruption(rig, mon, seconds, p=0.05, limit_s=60):
    """Every byte in both directions has a 5 % chance of one flipped bit (about one round
    trip in four arrives whole), while the charge is asked on, off and to other currents;
    each ask must reach the controller while the noise goes on (within limit_s)."""
    row = Row("RAPI corruption %d %% (both directions)" % round(p * 100))
    asks = [("active", 10), ("disabled", None), ("active", 14), ("active", 8), ("disabled", None),
            ("active", 12)]
    took = []
    rig.sim.set_faults(corrupt_out=p, corrupt_in=p)
    t_end = time.monotonic() + seconds
    i = 0
    try:
        while time.monotonic() < t_end or i < 2:
            state, amps = asks[i % len(asks)]
            i += 1
            row.tried += 1
            t0 = time.monotonic()
            ask(rig, mon, state, amps)
            try:
                wait_for(lambda: reached(rig, state, amps), limit_s, interval=0.1)
                took.append(time.monotonic() - t0)
            except AssertionError:
                row.lost += 1
                row.fail("ask %s %s not applied in %d s under noise" % (state, amps, limit_s))
            if alive(rig, 10) is not None:
                row.survived += 1
            else:
                row.fail("gateway not answering")
            time.sleep(min(2, max(0, t_end - time.monotonic())))
    finally:
        rig.sim.set_faults(corrupt_out=0.0, corrupt_in=0.0)
    st = rig.evse()["stats"]
    row.notes.append("%d bytes corrupted" % (st["bytes_corrupted_out"] + st["bytes_corrupted_in"]))
    if took:
        took.sort()
        row.notes.append("asks in force after %.1f s median, %.1f s at most" % (
            took[len(took) // 2], took[-1]))
    try:
        wait_for(lambda: rig.status()["evse_connected"] == 1, 10)
    except AssertionError:
        row.survived -= 1
        row.fail("link not back after the noise")
    return row


def controller_fault(rig, mon, what, n):
    """what "silence": the controller says nothing for 6 s (the gateway must flag it:
    evse_connected 0); "reboot": it starts again (volatile current and sleep gone, and it
    starts enabled). The ask alternates between paused and charging at 11 A and must be in
    force again once the controller is back."""
    row = Row("controller " + what)
    for k in range(n):
        state, amps = ("disabled", None) if k % 2 == 0 else ("active", 11)
        ask(rig, mon, state, amps)
        wait_for(lambda: reached(rig, state, amps), 20, what="ask before the fault")
        row.tried += 1
        if what == "silence":
            rig.sim.set_faults(silent_s=6)  # flagged after 3 s of silence (rapi/monitor.py)
            try:
                wait_for(lambda: rig.status()["evse_connected"] == 0, 8)
            except AssertionError:
                row.fail("silence not flagged")
            wait_for(lambda: not rig.evse()["faults"]["silent"], 10)
        else:
            boots = rig.evse()["boots"]
            rig.sim.reboot()
            wait_for(lambda: rig.evse()["boots"] > boots, 15)
        try:
            wait_for(lambda: rig.status()["evse_connected"] == 1, 15)
        except AssertionError:
            row.fail("%s: link not back in 15 s" % what)
            continue
        try:
            wait_for(lambda: reached(rig, state, amps), 15, interval=0.1)
            row.survived += 1
        except AssertionError:
            row.lost += 1
            row.survived += 1
            row.fail("%s: ask %s %s not in force again" % (what, state, amps))
    return row


def broker_restarts(rig, broker, mon, n):
    """mosquitto killed and started again (0.2-2 s down); the gateway must reconnect,
    resubscribe (a feed value published afterwards reaches /status) and keep the charge."""
    row = Row("%d broker restarts" % n)
    rng = random.Random(7)
    for k in range(n):
        row.tried += 1
        broker.kill()
        try:
            wait_for(lambda: rig.status()["mqtt_connected"] == 0, 8)
        except AssertionError:
            row.fail("restart %d: loss not noticed" % k)
        time.sleep(rng.uniform(0.2, 2.0))
        broker.start()
        try:
            wait_for(lambda: rig.status()["mqtt_connected"] == 1, 10)
        except AssertionError:
            row.fail("restart %d: not reconnected in 10 s" % k)
            continue
        v = -1000 - k
        try:
            wait_for(lambda: _feed(broker, v) and rig.status()["grid_ie"] == v, 5, interval=0.3)
        except AssertionError:
            row.lost += 1
            row.fail("restart %d: feed after reconnect not taken" % k)
        if alive(rig):
            row.survived += 1
    return row


def _feed(broker, v):
    broker.pub(GRID, str(v))
    return True


def emoncms_fault(rig, fake_ref, mon, mode, n):
    """mode "down": the Emoncms server refuses connections; "slow": it answers only after
    3 s. /status must stay fast meanwhile and posting must work again right after (values
    posted during an outage are not kept: Emoncms has no buffer, as in the C++ gateway)."""
    row = Row("Emoncms " + mode)
    worst = 0.0
    port = fake_ref[0].port
    for k in range(n):
        row.tried += 1
        fake = fake_ref[0]
        sent = rig.status()["packets_sent"]
        if mode == "down":
            fake.stop()
        else:
            fake.set_mode("slow", 3)
        # a settings change makes the gateway post at once (not after its 30 s period)
        rig.post("/config", {"emoncms_fingerprint": "aa:%02x:%s" % (k, "0d" if mode == "down" else "05")})
        t_end = time.monotonic() + (4 if mode == "down" else 4.5)
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            ok = alive(rig, 5)
            worst = max(worst, time.monotonic() - t0)
            if ok is None:
                row.fail("%s: /status not answered" % mode)
            time.sleep(0.1)
        if rig.status()["packets_sent"] <= sent:
            row.fail("%s: no post tried" % mode)
        if mode == "down":
            fake_ref[0] = fake = FakeEmoncms(prefix="/emoncms", port=port).start()
        else:
            fake.set_mode("ok")
        ok = rig.status()["packets_success"]
        rig.post("/config", {"emoncms_fingerprint": "bb:%02x:%s" % (k, "0d" if mode == "down" else "05")})
        try:
            wait_for(lambda: rig.status()["packets_success"] > ok, 10)
            row.survived += 1
        except AssertionError:
            row.lost += 1
            row.survived += 1
            row.fail("%s: posting did not resume" % mode)
    if worst > 1.0:
        row.survived = 0
        row.fail("/status took %.2f s during the fault" % worst)
    row.notes.append("slowest /status %.0f ms" % (worst * 1000))
    return row


def wifi_outages(rig, mon, n, wlan_file, seconds=6):
    """The home network's router is gone for a few seconds (boards/unix/wlan.py: "up":
    false; the radio reports a beacon timeout after 3 s); the gateway must notice, keep its
    settings and the charge, and be back on the network afterwards."""
    row = Row("WiFi outages (radio model)")
    for k in range(n):
        row.tried += 1
        _wlan(wlan_file, False)
        t_end = time.monotonic() + seconds
        noticed = False
        while time.monotonic() < t_end:
            s = alive(rig)
            if s is None:
                row.fail("outage %d: not answering" % k)
            elif s.get("wifi_client_connected") == 0:
                noticed = True
            time.sleep(0.2)
        _wlan(wlan_file, True)
        if not noticed:
            row.fail("outage %d: the link's loss was not noticed" % k)
        try:
            wait_for(lambda: rig.status()["wifi_client_connected"] == 1, 60)
            if noticed:
                row.survived += 1
        except AssertionError:
            row.fail("outage %d: not back on the network in 60 s" % k)
        cfg = rig.get("/config")[1]
        if cfg.get("ssid") != "HomeNetwork" or not cfg.get("pass"):
            row.lost += 1
            row.fail("outage %d: WiFi settings lost" % k)
    return row


def power_cuts(form, n, seed=11):
    """The gateway is killed (SIGKILL: no goodbye, as a power cut) 0-12 ms after a settings
    save was sent, then started again. The file must hold either the old or the new value,
    the new one whenever the save had been acknowledged, and every other setting."""
    row = Row("%d power cuts during saves" % n)
    rng = random.Random(seed)
    canary = {"mqtt_server": "canary.example", "emoncms_node": "canary", "hostname": "canary-7"}
    rig = Rig(config=canary, sim_kwargs={"ev_connected": False}, form=form)
    in_flight = 0
    try:
        rig.wait_http(20)
        cfg = rig.get("/config")[1]
        old = (cfg["led_brightness"], cfg["time_zone"])
        for k in range(n):
            row.tried += 1
            b = (old[0] + 1 + rng.randrange(250)) % 256
            new = (b, "Zone/%d" % k)  # two keys in one save: both or neither
            body = json.dumps({"led_brightness": new[0], "time_zone": new[1]}).encode()
            req = (b"POST /config HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body)) + body
            got = []
            sock = socket.create_connection(("127.0.0.1", rig.http_port), timeout=5)

            def reader():
                buf = b""
                try:
                    while True:
                        d = sock.recv(4096)
                        if not d:
                            break
                        buf += d
                except OSError:
                    pass
                got.append(buf)

            th = threading.Thread(target=reader)
            sock.sendall(req)
            th.start()
            time.sleep(rng.uniform(0, 0.012))
            rig.fw.send_signal(signal.SIGKILL)
            rig.fw.wait()
            th.join(5)
            sock.close()
            acked = bool(got and got[0].startswith(b"HTTP/1.1 200"))
            in_flight += not acked
            rig._log.close()
            rig.fw = None
            rig.start_firmware()
            try:
                rig.wait_http(20)
            except AssertionError:
                row.fail("cut %d: did not start again" % k)
                continue
            row.survived += 1
            cfg = rig.get("/config")[1]
            now = (cfg.get("led_brightness"), cfg.get("time_zone"))
            bad = [x for x in canary if cfg.get(x) != canary[x]]
            if bad or now not in (old, new) or (acked and now != new):
                row.lost += 1
                row.fail("cut %d: %r (old %r new %r, acked %s), other settings lost %s" % (
                    k, now, old, new, acked, bad))
            old = now
    finally:
        rig.close()
    row.notes.append("%d cut before the answer" % in_flight)
    return row


# ---- HTTP fuzz
def _route_paths():
    paths = {}
    for m, p, mod, fn in ROUTES:
        paths.setdefault(p.replace("#", "7"), set()).add(m)
    return paths


BAD_VALUES = [1e309, -1e309, "x", "1e309", [], {}, None, True, -1, 10 ** 30, "a\r\nb",
              "\ud800", "\u0000", "x" * 300, [[[[[]]]]], 1.5]
# values that would act when valid are never generated: see _bad_body
KEYS = {"/config": ["mqtt_port", "hostname", "mqtt_topic", "developer_mode", "divert_start_time",
                    "www_username", "max_current_soft", "ssid", "mqtt_announce_topic"],
        "/override": ["state", "charge_current", "max_current", "auto_release"],
        "/claims/7": ["state", "charge_current", "max_current", "auto_release"],
        "/limit": ["type", "value", "auto_release"],
        "/status": ["solar", "grid_ie", "voltage", "battery_level"],
        "/restart": ["device"]}


def _refused(path, key, v):
    """The gateway's own rules refuse v for key on path (so sending it must not act)."""
    try:
        if path == "/config":
            config_rules.check(key, v)
        elif path in ("/override", "/claims/7"):
            if v == "clear":
                return False
            claims.validate_props({key: v})
        elif path == "/limit":
            if key == "type":
                return v not in ("time", "energy", "soc", "range")
            if key == "value":
                return isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e9
            return not isinstance(v, bool)
        elif path == "/restart":
            return v not in ("gateway", "evse")
        elif path == "/status":
            # vehicle and battery values are only shown: any of them will do
            return key not in ("solar", "grid_ie", "voltage") or (
                isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > 1000000)
        else:
            return True
    except ValueError:  # ConfigError, ClaimError
        return True
    except Exception:
        return True  # what the firmware's check cannot even handle is refused too
    return False


def _bad_value(rng, path, key):
    for _ in range(200):
        v = rng.choice(BAD_VALUES)
        if _refused(path, key, v):
            return v
    raise ValueError("no bad value for %s %s" % (path, key))


def _bad_body(rng, path):
    """A body for path that must be refused (never a valid action)."""
    r = rng.random()
    if r < 0.3:
        return rng.choice([b"{", b"[1,", b'{"a":', b"nul", b"\xff\xfe{", b'{"state": "active"',
                           b"[" * 1200 + b"]" * 1200, b'{"a": 1e309}', b"NaN", b"{}" * 100,
                           bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))])
    keys = KEYS.get(path, ["x"])
    d = {}
    for _ in range(rng.randrange(1, 4)):
        k = rng.choice(keys)
        d[k] = _bad_value(rng, path, k)
    if path == "/limit":
        d["type"] = rng.choice(["weight", "", 5, None])
    if path == "/status" and not any(k in ("solar", "grid_ie", "voltage") for k in d):
        d["voltage"] = "high"
    try:
        return json.dumps(d).encode()
    except (ValueError, TypeError):
        return json.dumps({"x": str(d)}).encode()


def _req(method, target, headers=(), body=b"", version=b"HTTP/1.1", host=b"127.0.0.1"):
    h = b"%s %s %s\r\nHost: %s\r\n" % (method, target, version, host)
    for k, v in headers:
        h += k + b": " + v + b"\r\n"
    if body:
        h += b"Content-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body


def http_cases(rng, n):
    paths = _route_paths()
    plist = sorted(paths)
    methods = [b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS", b"TRACE",
               b"CONNECT", b"get", b"FOO", b"G\x00T"]
    cases = []
    # methods x routes: every method no route lists, with a body that would act
    for p in plist:
        for m in methods:
            if m.decode(errors="replace") in paths[p]:
                continue
            cases.append(("method", _req(m, p.encode() + b"?divertmode=2&rapi=$FE",
                                         [(b"X-Requested-With", b"OpenEVSE"),
                                          (b"Content-Type", b"application/json")],
                                         b'{"device": "evse", "state": "active"}')))
    while len(cases) < n:
        r = rng.random()
        p = rng.choice(plist)
        if r < 0.25:  # request lines
            kind = rng.randrange(8)
            if kind == 0:
                line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            elif kind == 1:
                line = b"GET /" + b"a" * rng.choice([100, 3000, 5000]) + b" HTTP/1.1"
            elif kind == 2:
                line = b"GET " + rng.choice([b"*", b"http://x/", b"//", b"/%", b"/%zz", b"/%ff%fe",
                                             b"/claims/99999999999999999999", b"/claims/-1",
                                             b"/claims/1.5", b"/claims/", b"/\x00", b"/ a",
                                             b"/r?rapi=%ff", b"/r?rapi=" + b"%24GS" * 200]) + b" HTTP/1.1"
            elif kind == 3:
                line = b"GET / " + rng.choice([b"HTTP/2.0", b"HTTP/1", b"", b"FOO/1.1", b"HTTP/1.1 x"])
            elif kind == 4:
                line = rng.choice([b"", b" ", b"GET", b"GET /", b"\r\n\r\n", b"GET  / HTTP/1.1"])
            elif kind == 5:
                line = b"POST " + p.encode() + b" HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"  # short body
            elif kind == 6:
                line = b"GET /status HTTP/1.1\nHost: x\n"  # bare LF
            else:
                line = b"GET /status?" + bytes(rng.randrange(33, 127) for _ in range(300)) + b" HTTP/1.1"
            cases.append(("line", line + b"\r\n\r\n"))
        elif r < 0.5:  # headers
            kind = rng.randrange(10)
            hs = []
            if kind == 0:
                hs = [(b"X-" + str(i).encode(), b"v" * 20) for i in range(rng.choice([50, 200]))]
            elif kind == 1:
                hs = [(b"X-Big", b"v" * rng.choice([1000, 3100, 8000]))]
            elif kind == 2:
                hs = [(b"Content-Length", rng.choice([b"-1", b"abc", b"99999999999", b"4097",
                                                      b"1 2", b"0x10"]))]
            elif kind == 3:
                hs = [(b"Transfer-Encoding", b"chunked")]
            elif kind == 4:
                hs = [(b"X-Bad", b"\xff\xfe\xc3")]
            elif kind == 5:
                hs = [(b"Authorization", rng.choice([b"Basic !!!", b"Basic " + b"QQ==" * 300,
                                                     b"Basic /w==", b"Bearer x", b"Basic"]))]
            elif kind == 6:
                hs = [(b"Origin", rng.choice([b"", b"http://", b"http:///", b"//x", b"x" * 2000,
                                              b"http://127.0.0.1"]))]
            elif kind == 7:
                hs = [(b"NoColonHere", b"")]
            elif kind == 8:
                hs = [(b"Host", rng.choice([b"", b"\xff", b"a" * 1000]))]
            else:
                hs = [(b"Content-Type", rng.choice([b"application/json; x", b"", b"\x00",
                                                    b"multipart/form-data; boundary=x"]))]
            m = rng.choice([b"GET", b"POST"])
            body = _bad_body(rng, p) if m == b"POST" else b""
            raw = _req(m, p.encode(), hs, body)
            if kind == 7:
                raw = raw.replace(b"NoColonHere: \r\n", b"NoColonHere\r\n")
            cases.append(("header", raw))
        else:  # bodies on the listed methods
            ms = [m for m in paths[p] if m != "GET"]
            if not ms:
                cases.append(("body", _req(b"GET", p.encode() + b"?" + bytes(
                    rng.randrange(33, 127) for _ in range(rng.randrange(1, 50))))))
                continue
            m = rng.choice(ms).encode()
            if (m, p) in ((b"PATCH", "/override"), (b"DELETE", "/override"), (b"DELETE", "/limit"),
                          (b"DELETE", "/claims/7"), (b"POST", "/reset"), (b"POST", "/savenetwork")):
                # these act without a body: sent from a foreign page, or as text
                hs = rng.choice([[(b"Origin", b"http://evil.example")],
                                 [(b"Sec-Fetch-Site", b"cross-site")]])
                cases.append(("body", _req(m, p.encode(), hs, b'{"a": 1}')))
                continue
            if p in ("/divertmode", "/shaper", "/r", "/rapi"):
                v = rng.choice([b"divertmode=7", b"divertmode=", b"divertmode=%ff", b"divertmode=1e309",
                                b"shaper=2", b"rapi=$FE", b"rapi=$FF+G+0&confirm=1", b"rapi=%24SC+99",
                                b"json=1&rapi=$FR", b"rapi=" + b"G" * 50, b"json=1&rapi=$GS%0D$FE",
                                bytes(rng.randrange(256) for _ in range(40))])
                ct = rng.choice([b"text/plain", b"application/x-www-form-urlencoded"])
                cases.append(("body", _req(m, p.encode(), [(b"Content-Type", ct)], v)))
                continue
            ct = rng.choice([b"application/json", b"application/json", b"text/plain"])
            cases.append(("body", _req(m, p.encode(), [(b"Content-Type", ct)], _bad_body(rng, p))))
    return cases


def http_fuzz(rig, mon, n, seed=5):
    """Malformed request lines, headers and bodies, and every method on every route; none
    may act, crash the gateway or be answered 500."""
    row = Row("HTTP fuzz (request lines, headers, bodies, methods x routes)")
    rng = random.Random(seed)
    before = snapshot(rig)
    n0 = len(rig.sim.log_since(0))
    up = Uptime(rig)
    kinds = {}
    codes = {}
    for kind, raw in http_cases(rng, n):
        row.tried += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            code, dt = raw_http(rig.http_port, raw)
        except OSError as e:
            code = "conn " + type(e).__name__
        codes[code] = codes.get(code, 0) + 1
        bad = isinstance(code, int) and code >= 500 and code != 503
        if bad or alive(rig) is None:
            row.fail("%s -> %s: %r" % (kind, code, raw[:120]))
        else:
            row.survived += 1
    if up.restarted():
        row.survived = 0
        row.fail("the gateway restarted")
    changed = diff(before, snapshot(rig))
    acts = acting_cmds(rig, n0)
    if changed or acts:
        row.lost += len(changed) + len(acts)
        row.fail("changed: %s; controller commands: %s" % (changed, acts[:5]))
    row.notes.append(", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    row.notes.append("answers: " + ", ".join("%s x%d" % (k, v) for k, v in
                                              sorted(codes.items(), key=lambda kv: str(kv[0]))))
    return row


# ---- MQTT fuzz
def mqtt_cases(rng, n):
    b = BASE.encode() + b"/"
    topics = [b + t for t in (b"divertmode/set", b"override/set", b"config/set", b"limit/set",
                              b"restart")] + [GRID.encode(), b"fz/vrms"]
    # (the broker itself drops a client that publishes to a topic that is not UTF-8)
    rapi = [b"$FE", b"$FS", b"$FR", b"$FD", b"$SC", b"$FF", b"$F1", b"$S0", b"$GS", b"$GG", b"$XX",
            b"", b"$", b"\xc3\xa9", b"$" + b"G" * 60, b"$FF G 0", b"$SY"]
    payloads = [b"", b" ", b"\n", b"{", b"[1,2]", b"null", b"1e309", b"-1e309", b"NaN", b"inf",
                b"0x10", b"3", b"0", b"eco", b"\xff\xfe", b"\x00", b'{"state": "on"}',
                b'{"device": "toaster"}', b'{"developer_mode": "yes"}', b'{"mqtt_port": 1e309}',
                b'{"hostname": "a\\r\\nb"}', b'{"type": "weight", "value": 1}', b"x" * 600,
                b"y" * 1500, b'{"charge_current": -5}', b'{"state": "active"', b"[" * 300,
                b'{"mqtt_topic": "a/#"}', b'{"www_username": "a:b"}', b"12abc", b"1e6",
                b"-1e6", b"  -  ", b'{"device": ""}', b"gateway ", b"GATEWAY"]
    cases = []
    while len(cases) < n:
        if rng.random() < 0.25:
            t = b + b"rapi/in/" + rng.choice(rapi)
            m = rng.choice([b"", b"0", b"G 0", b"99", b"\xff", b"x" * 700])
        else:
            t = rng.choice(topics)
            m = rng.choice(payloads)
            if rng.random() < 0.2:
                m = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        if t.endswith(b"divertmode/set") and m.strip() in (b"1", b"2"):
            continue
        if t.endswith(b"restart") and m.strip() in (b"gateway", b"evse"):
            continue
        cases.append((t, m, rng.random() < 0.3))
    return cases


def mqtt_fuzz(rig, broker, mon, n, seed=3):
    """Malformed, empty, retained, oversized and binary payloads on every topic the gateway
    subscribes to (its commands, rapi/in with any command, the feeds); none may act."""
    row = Row("MQTT fuzz (every subscribed topic)")
    rng = random.Random(seed)
    v0 = -777
    broker.pub(GRID, str(v0))
    wait_for(lambda: rig.status()["grid_ie"] == v0, 5, what="feed before the fuzz")
    before = snapshot(rig)
    n0 = len(rig.sim.log_since(0))
    up = Uptime(rig)
    pub = MqttPub(broker.port)
    retained = set()
    try:
        for i, (t, m, ret) in enumerate(mqtt_cases(rng, n)):
            row.tried += 1
            pub.pub(t, m, ret)
            if ret:
                retained.add(t)
            if i % 25 == 24:
                time.sleep(0.05)  # let the gateway keep up, as a busy broker would
                if alive(rig) is None:
                    row.fail("not answering after message %d" % i)
        for t in retained:
            pub.pub(t, b"", True)  # delete them: itself empty commands, to be ignored
    finally:
        pub.close()
    v1 = -778
    try:  # the canary: everything before it has been handled
        wait_for(lambda: _feed(broker, v1) and rig.status()["grid_ie"] == v1, 10, interval=0.5)
    except AssertionError:
        row.fail("feed after the fuzz not taken")
        row.lost += 1
    restarted = up.restarted()
    s = alive(rig)
    if not restarted and s is not None and s.get("mqtt_connected") == 1:
        row.survived = row.tried
    else:
        row.fail("restarted %s, status %r" % (restarted, s and s.get("mqtt_connected")))
    changed = diff(before, snapshot(rig))
    acts = acting_cmds(rig, n0)
    if changed or acts:
        row.lost += len(changed) + len(acts)
        row.fail("changed: %s; controller commands: %s" % (changed, acts[:5]))
    log = rig.log()
    row.notes.append("%d ignored as bad" % log.count("mqtt: ignored"))
    return row


# ---- cross-site
EVIL = [(b"Origin", b"http://evil.example")], [(b"Origin", b"null")], \
    [(b"Referer", b"http://evil.example/x.html")], [(b"Sec-Fetch-Site", b"cross-site")], \
    [(b"Origin", b"http://127.0.0.1:8123")]


def cross_site(rig, mon):
    """What a page on another site (or a sandboxed one) can make a browser send: every acting
    route from a foreign Origin / Referer / Sec-Fetch-Site, JSON as text/plain, developer
    RAPI commands over GET, a safety check switched off without confirmation, HEAD/OPTIONS
    on /reset, and the WebSocket. Developer mode is on, as an attacker would want it."""
    row = Row("cross-site requests")
    assert rig.post("/config", {"developer_mode": True}, headers=own(rig))[0] == 200
    before = snapshot(rig)
    flags = rig.evse()["eeprom"]["flags"]
    n0 = len(rig.sim.log_since(0))
    up = Uptime(rig)
    j = [(b"Content-Type", b"application/json")]
    f = [(b"Content-Type", b"application/x-www-form-urlencoded")]
    acting = [
        (b"POST", b"/config", j, b'{"developer_mode": false, "www_username": "x"}'),
        (b"POST", b"/override", j, b'{"state": "active"}'),
        (b"PATCH", b"/override", [], b""), (b"DELETE", b"/override", [], b""),
        (b"POST", b"/claims/20", j, b'{"state": "active"}'), (b"DELETE", b"/claims/20", [], b""),
        (b"POST", b"/limit", j, b'{"type": "time", "value": 1}'), (b"DELETE", b"/limit", [], b""),
        (b"POST", b"/divertmode", [(b"Content-Type", b"text/plain")], b"divertmode=2"),
        (b"GET", b"/divertmode?divertmode=2", [], b""),
        (b"POST", b"/status", j, b'{"grid_ie": -9000}'),
        (b"POST", b"/savenetwork", f, b"ssid=Evil&pass=12345678"),
        (b"GET", b"/savenetwork?ssid=Evil", [], b""),
        (b"POST", b"/r", f, b"json=1&rapi=$FF+G+0&confirm=1"),
        (b"GET", b"/r?json=1&rapi=$FF+G+0&confirm=1", [], b""),
        (b"POST", b"/rapi", f, b"json=1&rapi=$FE"),
        (b"POST", b"/restart", j, b'{"device": "evse"}'),
        (b"GET", b"/restart", [(b"X-Requested-With", b"x")], b""),
        (b"POST", b"/reset", [(b"X-Requested-With", b"x")], b""),
        (b"GET", b"/ws", [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                          (b"Sec-WebSocket-Version", b"13"),
                          (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ==")], b""),
    ]
    cases = []
    for m, p, hs, body in acting:
        for evil in EVIL:
            cases.append((_req(m, p, hs + evil, body), (403,)))
    # our own page (same origin) posting JSON as a form a foreign page could also send
    host = b"127.0.0.1:%d" % rig.http_port
    same = [(b"Origin", b"http://" + host)]
    for p, body in ((b"/config", b'{"developer_mode": false}'), (b"/override", b'{"state": "active"}'),
                    (b"/claims/20", b'{"state": "active"}'), (b"/limit", b'{"type": "time", "value": 1}'),
                    (b"/restart", b'{"device": "evse"}')):
        for ct in (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data",
                   b"text/plain; charset=application/json"):
            cases.append((_req(b"POST", p, [(b"Content-Type", ct)] + same, body, host=host), (415,)))
    for cmd in (b"$FF+G+0", b"$FE", b"$SC+16", b"$FR", b"$S0+1"):  # a link or an <img>
        cases.append((_req(b"GET", b"/r?json=1&rapi=" + cmd, host=host), (405,)))
    for cmd in (b"$FF+G+0", b"$FF+D+0", b"$FF+R+00", b"$SG+0", b"$SY+0+0", b"$SO+1+2"):
        cases.append((_req(b"POST", b"/r", f + same, b"json=1&rapi=" + cmd, host=host), (400,)))
    for m in (b"HEAD", b"OPTIONS", b"PUT", b"TRACE"):
        for p in (b"/reset", b"/r", b"/config", b"/override"):
            cases.append((_req(m, p, [(b"X-Requested-With", b"OpenEVSE")] + j, b'{"device": "evse"}'),
                          (405,)))
    for raw, want in cases:
        row.tried += 1
        code, _ = raw_http(rig.http_port, raw)
        if code in want and alive(rig) is not None:
            row.survived += 1
        else:
            row.fail("%s (want %s): %r" % (code, want, raw[:100]))
    time.sleep(1.0)  # a restart or reset would be under way by now
    if up.restarted():
        row.survived = 0
        row.fail("the gateway restarted")
    changed = diff(before, snapshot(rig))
    acts = acting_cmds(rig, n0)
    if changed or acts or rig.evse()["eeprom"]["flags"] != flags:
        row.lost += len(changed) + len(acts) + (rig.evse()["eeprom"]["flags"] != flags)
        row.fail("changed: %s; controller commands: %s" % (changed, acts[:5]))
    assert rig.post("/config", {"developer_mode": False}, headers=own(rig))[0] == 200
    return row


# ---------------------------------------------------------------------------- the suite
def damaged_saves(rig, mon, n, p=0.05, limit_s=60):
    """n times the worst damage RAPI's XOR checksum lets through (the virtual EVSE's
    damage_sc fault), on a link that also flips bits as in rapi_corruption (p): the
    gateway's "$SC n V" arrives as a saved "$SC" of a number above the controller's
    maximum (MAX_A), which raises its pilot and saved maximum. The gateway must put the
    maximum back, through the noise, and reach the asked current; the Monitor counts the
    time the pilot spent above MAX_A (over Monitor.EXCURSION_S is a safety violation)."""
    row = Row("damaged $SC saved as a higher maximum (injected)%s" % (
        ", %d %% noise" % round(p * 100) if p else ""))
    keep, mon.keep_all = mon.keep_all, True  # the lengths of violations too
    e0 = len(mon.excursions)
    ask(rig, mon, "active", 12)
    wait_for(lambda: reached(rig, "active", 12), 30, interval=0.1, what="12 A")
    for k in range(n):
        amps = (10, 14)[k % 2]  # both begin with "1": damaged to 30 / 34 (clamped to 32)
        row.tried += 1
        done0 = rig.evse()["stats"]["sc_damaged"]
        rig.sim.set_faults(damage_sc=1, corrupt_out=p, corrupt_in=p)
        ask(rig, mon, "active", amps)
        try:
            wait_for(lambda: rig.evse()["stats"]["sc_damaged"] > done0, 10, interval=0.05)
            wait_for(lambda: reached(rig, "active", amps) and
                     rig.evse()["eeprom"]["max_l2"] == MAX_A, limit_s, interval=0.1)
        except AssertionError:
            row.lost += 1
            st = rig.evse()
            row.fail("try %d: %d A with the maximum at %d A not reached in %d s (state %d, "
                     "pilot %d A, maximum %d A)" % (k + 1, amps, MAX_A, limit_s, st["state"],
                                                    st["current_a"], st["eeprom"]["max_l2"]))
        finally:
            rig.sim.set_faults(damage_sc=0, corrupt_out=0.0, corrupt_in=0.0)
        if alive(rig, 10) is not None:
            row.survived += 1
        else:
            row.fail("gateway not answering")
    time.sleep(0.3)  # the Monitor's last sample
    mon.keep_all = keep
    ex = mon.excursions[e0:]
    if ex:
        ex = sorted(ex)
        row.notes.append("pilot above %d A for %.2f s median, %.2f s at most" % (
            MAX_A, ex[len(ex) // 2], ex[-1]))
    return row


def corruption_only(seconds, form="src", saves=0, p=0.05):
    """The RAPI corruption row alone (or, with saves > 0, the damaged-save row): (Row,
    [seconds of every pilot excursion, including those over Monitor.EXCURSION_S])."""
    rig = link_rig(form)
    mon = Monitor(rig.sim)
    mon.keep_all = True
    mon.start()
    try:
        row = damaged_saves(rig, mon, saves, p) if saves else rapi_corruption(rig, mon, seconds, p)
        for ln in rig.log().splitlines():
            if "damaged" in ln or "rose" in ln:
                row.notes.append("firmware: " + ln.strip())
        if row.problems:
            row.notes.append("firmware log (rapi lines):\n" + "\n".join([
                ln for ln in rig.log().splitlines() if ln.startswith("rapi")][-40:]))
        log = rig.sim.log_since(0)
        for t0, t1, amps in mon.windows:
            if t1 - t0 < 1000:
                continue
            row.notes.append("excursion to %d A, %d ms (sim %d..%d); controller did:" % (
                amps, t1 - t0, t0, t1))
            for e in log:
                if t0 - 3000 <= (e.get("t_ms") or 0) <= t1 + 1000 and \
                        e["name"] not in ("$GG", "$GU", "$GP"):
                    row.notes.append("   %+6d ms %s %s -> %s" % (e["t_ms"] - t0, e["name"],
                                                               " ".join(e["args"]), e.get("reply")))
        row.violations = mon.count
        if row.violations:
            row.problems.insert(0, "safety: %s" % mon.what[:3])
        return row, list(mon.excursions)
    finally:
        mon.stop = True
        rig.close()


def run(scale=QUICK, form="src", out=print):
    """All rows; returns [Row]. out(text) reports progress."""
    rows = []
    t_all = time.monotonic()

    def done(row, t0):
        row.notes.append("%.0f s" % (time.monotonic() - t0))
        rows.append(row)
        out("  %-58s tried %5d survived %5d lost %d safety %d%s" % (
            row.name, row.tried, row.survived, row.lost, row.violations,
            "" if row.ok() else "  <-- " + "; ".join(row.problems[:3])))

    # the controller link
    rig = link_rig(form)
    mon = Monitor(rig.sim)
    mon.start()
    try:
        for fn, args in ((rapi_corruption, (scale["rapi_s"],)),
                         (damaged_saves, (scale["saves"], scale["saves_p"])),
                         (controller_fault, ("silence", scale["silences"])),
                         (controller_fault, ("reboot", scale["reboots"]))):
            t0 = time.monotonic()
            v0 = mon.count
            e0 = len(mon.excursions)
            row = fn(rig, mon, *args)
            row.violations = mon.count - v0
            if row.violations:
                row.problems.insert(0, "safety: %s" % mon.what[v0:v0 + 3])
            ex = mon.excursions[e0:]
            if ex:
                row.notes.append("%d pilot excursions by damaged commands, undone within %.1f s"
                                 % (len(ex), max(ex)))
            done(row, t0)
    finally:
        mon.stop = True
        rig.close()

    # the power cuts
    t0 = time.monotonic()
    done(power_cuts(form, scale["cuts"]), t0)

    # the network side: MQTT, Emoncms, WiFi, HTTP and MQTT attacks; the charge is paused
    broker = Broker()
    broker.start()
    fake = [FakeEmoncms(prefix="/emoncms").start()]
    wlan_file = os.path.join(tempfile.mkdtemp(prefix="oevse-wlan-"), "wlan.json")
    _wlan(wlan_file, True)
    rig = None
    try:
        rig = net_rig(form, broker, fake[0], wlan_file)
        mon = Monitor(rig.sim)
        mon.start()
        ask(rig, mon, "disabled")
        wait_for(lambda: reached(rig, "disabled"), 15, what="paused")
        rows_net = (
            (broker_restarts, (broker, mon, scale["broker"])),
            (emoncms_fault, (fake, mon, "down", scale["emoncms"])),
            (emoncms_fault, (fake, mon, "slow", scale["emoncms"])),
            (wifi_outages, (mon, scale["wifi"], wlan_file)),
            (http_fuzz, (mon, scale["http"])),
            (mqtt_fuzz, (broker, mon, scale["mqtt"])),
            (cross_site, (mon,)),
        )
        for fn, args in rows_net:
            t0 = time.monotonic()
            v0 = mon.count
            row = fn(rig, *args)
            row.violations = mon.count - v0
            if row.violations:
                row.problems.insert(0, "safety: %s" % mon.what[v0:v0 + 3])
            done(row, t0)
        mon.stop = True
        if "Traceback" in rig.log():
            out("firmware log has a traceback:\n" + rig.log()[-3000:])
    finally:
        if rig is not None:
            rig.close()
        fake[0].stop()
        broker.stop()
    out("  (%.0f s in all)" % (time.monotonic() - t_all))
    return rows


def table(rows):
    lines = ["| fault or attack | tried | survived | data lost | safety violations |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %d | %d | %d | %d |" % (r.name, r.tried, r.survived, r.lost,
                                                    r.violations))
    return "\n".join(lines)


def notes(rows):
    return "\n".join("%s: %s" % (r.name, "; ".join(r.notes)) for r in rows)
