"""System-test harness: the virtual EVSE (in this process, on a real pty) and the
firmware under the MicroPython unix port (a subprocess), wired as `make run` does.

A Rig runs one of three firmware forms (FORMS):
  "src"     firmware/*.py on the PC's 64-bit MicroPython (`make run`)
  "mpy"     the precompiled tree (build/unix-mpy, what `make deploy` copies to a board) on the
            ESP32-profile runtime (build/mp32: 32-bit, 56 KB heap growing once to ~110 KB)
  "frozen"  the firmware frozen into the ESP32-profile runtime (build/mp32-frozen)
  "mpy64"   the precompiled tree on the same profile built 64-bit (build/mp64; bench only)"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sim.server import SimServer  # noqa: E402
from tools.run import MICROPYPATH, MPY, firmware_env  # noqa: E402

MP32 = os.path.join(ROOT, "build", "mp32", "micropython")
MP32_FROZEN = os.path.join(ROOT, "build", "mp32-frozen", "micropython")
MP64 = os.path.join(ROOT, "build", "mp64", "micropython")  # the same profile, 64-bit (bench)
MPY_TREE = os.path.join(ROOT, "build", "unix-mpy")
FORMS = ("src", "mpy", "frozen", "mpy64")
AP_IP = "127.0.4.1"  # boards/unix/board.py ap_ip: the access point's address on the PC
PHONE_IP = "127.0.4.2"  # a phone on that AP: requests come from the AP's network
PROBE = os.path.join(ROOT, "tests", "system", "mpy", "stallprobe.py")
_IPV4 = re.compile(rb"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def foreign_addresses(data):
    """IPv4 addresses outside 127.0.0.0/8 named in data (bytes or str): on the PC nothing may
    point a client anywhere else. 0.0.0.0 is "no address" (/status ipaddress while the gateway
    has none), not a place to go."""
    if isinstance(data, str):
        data = data.encode()
    return [m.group(0).decode() for m in _IPV4.finditer(data)
            if m.group(1) != b"127" and m.group(0) != b"0.0.0.0"]


def _newest_source():
    newest = 0
    for base in ("firmware", "boards"):
        for d, _, files in os.walk(os.path.join(ROOT, base)):
            for f in files:
                if f.endswith((".py", ".gz")):
                    newest = max(newest, os.path.getmtime(os.path.join(d, f)))
    return newest


def ensure_form(form):
    """Build what a form needs when it is missing or older than the firmware sources
    (`make test` has built it already; this covers running pytest by hand)."""
    if form == "src":
        return
    # parallel test workers (pytest-xdist) may get here at once: one builds, the others wait
    import fcntl

    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", ".ensure-form.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_form(form)


def _ensure_form(form):
    if form in ("mpy", "mpy64"):
        stamp = os.path.join(MPY_TREE, "main.py")
        if not os.path.exists(stamp) or os.path.getmtime(stamp) < _newest_source():
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build_mpy.py"),
                            "--target", "unix", "--quiet"], cwd=ROOT, check=True)
    binary, build = {"mpy": (MP32, "plain"), "mpy64": (MP64, "x64"),
                     "frozen": (MP32_FROZEN, "frozen")}[form]
    wlan = max(os.path.getmtime(os.path.join(ROOT, "boards", "unix", n))  # frozen in all
               for n in ("wlan.py", "esp32.py"))
    if not os.path.exists(binary) or os.path.getmtime(binary) < wlan or (
            form == "frozen" and os.path.getmtime(binary) < _newest_source()):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build_runtime.py"), build],
                       cwd=ROOT, check=True)


_totals = {}


def heap_total(form, env=None):
    """The GC heap (bytes) of a form's runtime once it has grown as far as it may: 111,936 on
    the ESP32 profile, as PR #13219 measured on a stock ESP32 after one growth."""
    key = (form, tuple(sorted((env or {}).items())))
    if key not in _totals:
        ensure_form(form)
        binary = {"src": MPY, "mpy": MP32, "frozen": MP32_FROZEN, "mpy64": MP64}[form]
        code = ("import gc\nl=[]\ntry:\n while 1: l.append(bytearray(512))\n"
                "except MemoryError: pass\ngc.collect()\nprint(gc.mem_alloc()+gc.mem_free())")
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run([binary, "-c", code], capture_output=True, text=True, timeout=60, env=e)
        _totals[key] = int(r.stdout.split()[-1])
    return _totals[key]


def form_command(form, heap=None, probe=False):
    """(argv, environment additions) that start the firmware in `form`; probe: with the
    loop-stall probe (tests/system/mpy/stallprobe.py; src and frozen forms)."""
    if form == "src":
        args = [MPY] + (["-X", "heapsize=" + heap] if heap else [])
        main = PROBE if probe else os.path.join(ROOT, "firmware", "main.py")
        return args + [main], {"MICROPYPATH": MICROPYPATH}
    ensure_form(form)
    if form in ("mpy", "mpy64"):
        args = [MP32 if form == "mpy" else MP64] + (["-X", "heapsize=" + heap] if heap else [])
        return args + [os.path.join(MPY_TREE, "main.py")], {"MICROPYPATH": ".frozen:" + MPY_TREE}
    args = [MP32_FROZEN] + (["-X", "heapsize=" + heap] if heap else [])
    # the radio model is frozen into the runtime, as the chip's radio is in its firmware
    return args + ([PROBE] if probe else ["-c", "import startup; startup.main()"]), {
        "MICROPYPATH": ".frozen"}


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return it, or raise AssertionError."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            last = pred()
        except Exception as e:  # the gateway may be restarting
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Rig:
    """One virtual EVSE + one firmware process."""

    def __init__(self, config=None, sim_kwargs=None, env=None, heap=None, form="src",
                 http_port=None, wlan=None, probe=False, profile="8.2.3"):
        """profile: which controller the virtual EVSE models (sim.controller.PROFILES)."""
        self.tmp = tempfile.mkdtemp(prefix="oevse-")
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        if config:
            with open(os.path.join(self.data, "config.json"), "w") as f:
                json.dump(config, f)
        self.link = os.path.join(self.tmp, "evse.tty")
        kw = {"ev_connected": False, "profile": profile}
        kw.update(sim_kwargs or {})
        self.sim = SimServer(link=self.link, control_port=0, **kw).start()
        self.http_port = http_port or free_port()
        # the radio model's world (boards/unix/wlan.py): the default networks unless given
        self.wlan_path = os.path.join(self.tmp, "wlan.json")
        self.wlan_state = os.path.join(self.tmp, "wlan-state.json")
        if wlan is not None:
            self.set_world(wlan)
        self.extra_env = {"DNS_PORT": str(free_port(socket.SOCK_DGRAM)),
                          "MDNS_PORT": str(free_port(socket.SOCK_DGRAM)),
                          "SIM_WLAN": self.wlan_path, "SIM_WLAN_STATE": self.wlan_state}
        self.extra_env.update(env or {})
        self.heap = heap
        self.form = form
        self.probe = probe
        self.fw = None
        self.log_path = os.path.join(self.tmp, "firmware.log")
        self.start_firmware()

    # -- firmware process ------------------------------------------------------
    def start_firmware(self):
        args, extra = form_command(self.form, self.heap, self.probe)
        env = firmware_env(self.link, self.http_port, self.data, self.extra_env)
        env.update(extra)
        self._log = open(self.log_path, "ab")
        self.fw = subprocess.Popen(args, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                   env=env)
        self.t_start = time.monotonic()

    def stop_firmware(self):
        if self.fw and self.fw.poll() is None:
            self.fw.terminate()
            try:
                self.fw.wait(5)
            except subprocess.TimeoutExpired:
                self.fw.kill()
                self.fw.wait()
        if self.fw:
            self._log.close()
        self.fw = None

    def restart_firmware(self):
        self.stop_firmware()
        self.start_firmware()
        self.wait_http()

    def wait_exit(self, timeout=15):
        """The firmware's exit code once it has ended (3: it reset itself)."""
        rc = self.fw.wait(timeout)
        self._log.close()
        self.fw = None
        return rc

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        self.stop_firmware()
        self.sim.stop()

    # -- HTTP --------------------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def request(self, method, path, body=None, headers=None, timeout=5):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            else:
                data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                code = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            code = e.code
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode(errors="replace")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def status(self):
        code, d = self.get("/status")
        if code != 200:
            raise AssertionError("/status returned %s: %r" % (code, d))
        return d

    def wait_http(self, timeout=10):
        return wait_for(lambda: self.get("/status", timeout=1)[0] == 200, timeout,
                        what="firmware HTTP on port %d\n%s" % (self.http_port, self.log()[-2000:]))

    def wait_connected(self, timeout=10):
        self.wait_http(timeout)
        return wait_for(lambda: self.status().get("evse_connected") == 1, timeout,
                        what="evse_connected\n" + self.log()[-2000:])

    def phone(self, method, path, body=None, headers=None, host=AP_IP, timeout=5):
        """A request as a phone on the gateway's access point makes it: from the AP's network
        (PHONE_IP) to the AP address. Returns (status, headers dict, body: JSON or text);
        redirects are not followed."""
        c = http.client.HTTPConnection(AP_IP, self.http_port, timeout=timeout,
                                       source_address=(PHONE_IP, 0))
        hdrs = {"Host": host}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            if isinstance(body, dict):
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            else:
                data = body.encode() if isinstance(body, str) else body
                hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            c.request(method, path, data, hdrs)
            r = c.getresponse()
            raw = r.read()
            h = dict((k.lower(), v) for k, v in r.getheaders())
            code = r.status
        finally:
            c.close()
        try:
            return code, h, json.loads(raw)
        except ValueError:
            return code, h, raw.decode(errors="replace")

    # -- the radio model -------------------------------------------------------------
    def set_world(self, world):
        """Replace the radio model's world (networks up or down, stations on our AP, ...)."""
        self.world = world
        tmp = self.wlan_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(world, f)
        os.replace(tmp, self.wlan_path)

    def change_world(self, **kw):
        """Change top-level keys of the world; net=(ssid, dict) changes one network."""
        w = json.loads(json.dumps(self.world))
        net = kw.pop("net", None)
        if net:
            for n in w["networks"]:
                if n["ssid"] == net[0]:
                    n.update(net[1])
        w.update(kw)
        self.set_world(w)

    def radio(self):
        """The radio model's own view (SIM_WLAN_STATE): connected, ap_active, counters..."""
        with open(self.wlan_state) as f:
            return json.load(f)

    def stalls(self, since=0):
        """(worst loop stall outside scans, worst scan stall) in ms from the probe's log, from
        character `since` of the log on (a mark taken with len(rig.log())), so that a test
        judges its own window, not what other tests running beside it did to the process.
        From a mark only wake-ups 20 ms late or more are logged: smaller ones read as 0."""
        worst = [0, 0]
        for line in self.log()[since:].splitlines():
            if since == 0 and line.startswith("STALL "):  # the probe's running worst, exact
                worst = [int(x) for x in line.split()[1:3]]
            elif since and line.startswith("LATE "):
                ms, scan = line.split()[1:3]
                worst[int(scan)] = max(worst[int(scan)], int(ms))
        return tuple(worst)

    # -- the virtual EVSE ----------------------------------------------------------
    def evse(self):
        return self.sim.state()

    def plug(self, on=True):
        self.sim.set_ev(connected=on)
