"""I/O side of the virtual EVSE: pty (or TCP) RAPI link, baud-rate pacing,
simulation tick, fault injection and the HTTP JSON control API.

Library use (e.g. from pytest)::

    from sim.server import SimServer
    sim = SimServer(link="build/evse.tty", control_port=0).start()
    ... open sim.tty_path, talk RAPI; sim.control_url; sim.controller ...
    sim.stop()
"""

import collections
import json
import os
import random
import select
import socket
import threading
import time
import tty
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .controller import Controller, FAULT_NAMES
from .ev import EV


DEFAULT_FAULTS = {"corrupt_out": 0.0, "corrupt_in": 0.0, "drop": 0.0,
                  "delay_ms": 0, "silent": False, "silent_until_ms": None, "refuse": [],
                  "damage_sc": 0}


class SimServer:
    def __init__(self, link=None, control_port=0, baud=115200, tcp_port=None,
                 max_current=32, hw_max=32, voltage_mv=240000, ev_connected=True,
                 tick_ms=100, seed=None, host="127.0.0.1", boot=True,
                 controller_kwargs=None, ev_kwargs=None, profile="8.2.3"):
        self.link = link
        self.control_port = control_port
        self.baud = baud
        self.tcp_port = tcp_port
        self.tick_ms = tick_ms
        self.host = host
        self.byte_time = 10.0 / baud if baud else 0.0
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.faults = dict(DEFAULT_FAULTS)
        self.stats = {"bytes_in": 0, "bytes_out": 0, "replies_dropped": 0,
                      "bytes_corrupted_in": 0, "bytes_corrupted_out": 0, "sc_damaged": 0,
                      "bytes_discarded_silent": 0, "lines_discarded_silent": 0,
                      "bytes_lost_overflow": 0}
        self.ev = EV(connected=ev_connected, nominal_mv=voltage_mv, **(ev_kwargs or {}))
        self.controller = Controller(ev=self.ev, now_ms=0, max_current=max_current,
                                     hw_max=hw_max, voltage_mv=voltage_mv, boot=boot,
                                     profile=profile, **(controller_kwargs or {}))
        self.tty_path = None
        self._master = None
        self._slave = None
        self._lsock = None
        self._client = None
        self._httpd = None
        self._threads = []
        self._running = False
        self._outq = collections.deque()
        self._outcv = threading.Condition()
        self._line_free = 0.0
        self._t0 = None
        self._wake_r, self._wake_w = os.pipe()

    # ------------------------------------------------------------ lifecycle
    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def start(self):
        self._t0 = time.monotonic()
        if self.tcp_port is None:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self.tty_path = os.ttyname(self._slave)
            if self.link:
                d = os.path.dirname(os.path.abspath(self.link))
                os.makedirs(d, exist_ok=True)
                if os.path.lexists(self.link):
                    os.unlink(self.link)
                os.symlink(self.tty_path, self.link)
        else:
            self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._lsock.bind((self.host, self.tcp_port))
            self._lsock.listen(1)
            self.tcp_port = self._lsock.getsockname()[1]
        self._httpd = ThreadingHTTPServer((self.host, self.control_port), _make_handler(self))
        self._httpd.daemon_threads = True
        self.control_port = self._httpd.server_address[1]
        self._running = True
        for target in (self._io_loop, self._writer_loop, self._httpd.serve_forever):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    @property
    def control_url(self):
        return "http://%s:%d" % (self.host, self.control_port)

    def banner(self):
        if self.tcp_port is None:
            return "sim: pty %s control %s" % (self.link or self.tty_path, self.control_url)
        return "sim: tcp %s:%d control %s" % (self.host, self.tcp_port, self.control_url)

    def stop(self):
        if not self._running:
            return
        self._running = False
        os.write(self._wake_w, b"x")
        with self._outcv:
            self._outcv.notify_all()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=2)
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for s in (self._client, self._lsock):
            if s is not None:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ faults
    def set_faults(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k not in DEFAULT_FAULTS and k != "silent_s":
                    raise KeyError(k)
            if "silent_s" in kw:
                s = kw.pop("silent_s")
                kw["silent"] = bool(s)
                kw["silent_until_ms"] = self.now_ms() + int(float(s) * 1000) if s else None
            elif kw.get("silent") is False:
                kw["silent_until_ms"] = None
            for k, v in kw.items():
                if k in ("corrupt_out", "corrupt_in", "drop"):
                    v = min(1.0, max(0.0, float(v)))
                elif k == "delay_ms":
                    v = max(0, int(v))
                elif k == "silent":
                    v = bool(v)
                elif k == "damage_sc":
                    v = max(0, int(v))
                elif k == "refuse":
                    # commands the controller answers $NK without executing them
                    v = sorted(set("$" + str(c).lstrip("$") for c in (v or [])))
                    self.controller.refuse = set(v)
                self.faults[k] = v
            return dict(self.faults)

    def _silent(self, now):
        f = self.faults
        if f["silent"] and f["silent_until_ms"] is not None and now >= f["silent_until_ms"]:
            f["silent"] = False
            f["silent_until_ms"] = None
        return f["silent"]

    def _corrupt(self, data, p, stat):
        if p <= 0:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            if self.rng.random() < p:
                out[i] ^= 1 << self.rng.randrange(8)
                self.stats[stat] += 1
        return bytes(out)

    def _damage_sc(self, data):
        """The worst two-bit error RAPI's XOR checksum lets through: bit 1 flipped in the
        first digit of "$SC n V" and in the space before the V (one column), so the line
        still checks and the controller reads a saved "$SC" of a higher number ("$SC 14 V"
        -> '$SC 34"V'). Done to the next damage_sc such lines that arrive in one read."""
        i = data.find(b"$SC ")
        j = data.find(b" V", i + 4) if i >= 0 else -1
        if j < 0 or not data[i + 4:j].isdigit():
            return data
        out = bytearray(data)
        out[i + 4] ^= 2
        out[j] ^= 2
        self.faults["damage_sc"] -= 1
        self.stats["sc_damaged"] += 1
        return bytes(out)

    # ------------------------------------------------------------ output
    def _enqueue(self, chunks, from_command):
        """Called with self.lock held."""
        now = self.now_ms()
        for data in chunks:
            if self._silent(now):
                self.stats["lines_discarded_silent"] += 1
                continue
            if data[:3] in (b"$OK", b"$NK") and self.faults["drop"] > 0 \
                    and self.rng.random() < self.faults["drop"]:
                self.stats["replies_dropped"] += 1
                continue
            delay = self.faults["delay_ms"] if from_command else 0
            with self._outcv:
                self._outq.append((time.monotonic() + delay / 1000.0, data))
                self._outcv.notify()

    def _writer_loop(self):
        while self._running:
            with self._outcv:
                while self._running and not self._outq:
                    self._outcv.wait(0.5)
                if not self._running:
                    return
                not_before, data = self._outq.popleft()
            with self.lock:
                data = self._corrupt(data, self.faults["corrupt_out"], "bytes_corrupted_out")
            wait = not_before - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._paced_write(data)

    def _paced_write(self, data):
        bt = self.byte_time
        start = max(time.monotonic(), self._line_free)
        n, sent = len(data), 0
        while sent < n and self._running:
            if bt:
                done = int((time.monotonic() - start) / bt)
                done = min(n, done)
            else:
                done = n
            if done > sent:
                if not self._raw_write(data[sent:done]):
                    self.stats["bytes_lost_overflow"] += n - sent
                    break
                self.stats["bytes_out"] += done - sent
                sent = done
            if sent < n:
                time.sleep(max(0.0, start + (sent + 1) * bt - time.monotonic()))
        self._line_free = start + n * bt

    def _raw_write(self, data):
        try:
            if self._master is not None:
                os.write(self._master, data)
                return True
            if self._client is not None:
                self._client.sendall(data)
                return True
        except (BlockingIOError, OSError):
            return False
        return False                          # no TCP client: bytes go nowhere

    # ------------------------------------------------------------ input + tick
    def _io_loop(self):
        next_tick = time.monotonic()
        while self._running:
            fds = [self._wake_r]
            if self._master is not None:
                fds.append(self._master)
            if self._lsock is not None:
                fds.append(self._lsock)
            if self._client is not None:
                fds.append(self._client)
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                r, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                r = []
            if not self._running:
                return
            for fd in r:
                if fd is self._lsock:
                    c, _ = self._lsock.accept()
                    if self._client is not None:
                        self._client.close()
                    self._client = c
                    continue
                data = self._read(fd)
                if data:
                    self._on_input(data)
            if time.monotonic() >= next_tick:
                with self.lock:
                    self._enqueue(self.controller.tick(self.now_ms()), False)
                next_tick += self.tick_ms / 1000.0
                if next_tick < time.monotonic():
                    next_tick = time.monotonic() + self.tick_ms / 1000.0

    def _read(self, fd):
        if fd == self._wake_r:
            os.read(self._wake_r, 64)
            return b""
        if fd is self._client:
            try:
                data = self._client.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._client.close()
                self._client = None
            return data
        try:
            return os.read(fd, 4096)
        except (BlockingIOError, OSError):
            time.sleep(0.01)   # EIO when no slave open (cannot happen: we hold it)
            return b""

    def _on_input(self, data):
        with self.lock:
            self.stats["bytes_in"] += len(data)
            now = self.now_ms()
            data = self._corrupt(data, self.faults["corrupt_in"], "bytes_corrupted_in")
            if self.faults["damage_sc"]:
                data = self._damage_sc(data)
            if self._silent(now):
                self.stats["bytes_discarded_silent"] += len(data)
                return
            self._enqueue(self.controller.feed(data, now), True)

    # ------------------------------------------------------------ control
    def state(self):
        with self.lock:
            now = self.now_ms()
            s = self.controller.snapshot(now)
            self._silent(now)
            s["faults"] = dict(self.faults)
            s["stats"] = dict(self.stats)
            s["now_ms"] = now
            s["tty"] = self.tty_path
            s["link"] = self.link
            return s

    def log_since(self, since=0):
        with self.lock:
            return [dict(e) for e in self.controller.log[since:]]

    def log_len(self):
        """How many entries the command log holds (a mark for log_since)."""
        with self.lock:
            return len(self.controller.log)

    def set_ev(self, connected=None, full=None, draw_ratio=None):
        with self.lock:
            if connected is not None:
                if connected:
                    self.ev.plug()
                else:
                    self.ev.unplug()
            if full is not None:
                self.ev.set_full(full)
            if draw_ratio is not None:
                self.ev.draw_ratio = float(draw_ratio)
            return self.ev.snapshot()

    def set_temps(self, temps):
        with self.lock:
            self.controller.set_temps(temps)

    def reboot(self, delay_ms=None):
        with self.lock:
            self.controller.request_reboot(self.now_ms(), delay_ms)

    def press_button(self, kind="short"):
        with self.lock:
            self._enqueue(self.controller.press_button(kind, self.now_ms()), False)

    def force_fault(self, state, any_state=False):
        """A fault state (4..14, 4..17 on D9), or with any_state any code 0..255 (a test hook
        for codes this controller would never send); 0 clears."""
        with self.lock:
            now = self.now_ms()
            if state and any_state:
                out = self.controller.force_state(int(state), now)
            elif state:
                out = self.controller.inject_fault(int(state), now)
            else:
                out = self.controller.clear_fault(now)
            self._enqueue(out, False)


def _make_handler(sim):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def _send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            if not n:
                return {}
            obj = json.loads(self.rfile.read(n) or b"{}")
            if not isinstance(obj, dict):
                raise ValueError("JSON object expected")
            return obj

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            try:
                if u.path == "/state":
                    return self._send(200, sim.state())
                if u.path == "/log":
                    return self._send(200, sim.log_since(int(q.get("since", ["0"])[0])))
                if u.path == "/faults":
                    return self._send(200, sim.state()["faults"])
            except ValueError as e:
                return self._send(400, {"error": str(e)})
            self._send(404, {"error": "not found"})

        def do_POST(self):
            path = urllib.parse.urlparse(self.path).path
            try:
                b = self._body()
                if path == "/ev":
                    sim.set_ev(b.get("connected"), b.get("full"), b.get("draw_ratio"))
                elif path == "/temp":
                    sim.set_temps([b.get("temp1"), b.get("temp2"), b.get("temp3")])
                elif path == "/faults":
                    sim.set_faults(**b)
                elif path == "/button":
                    sim.press_button(b.get("press", "short"))
                elif path == "/reboot":
                    sim.reboot(b.get("delay_ms"))
                elif path == "/fault":
                    st = b.get("state", 0)
                    if isinstance(st, str):
                        st = 0 if st in ("clear", "none", "0") else FAULT_NAMES[st.lower()]
                    sim.force_fault(int(st), bool(b.get("any")))
                else:
                    return self._send(404, {"error": "not found"})
            except (ValueError, KeyError, TypeError) as e:
                return self._send(400, {"error": "%s: %s" % (type(e).__name__, e)})
            self._send(200, sim.state())

    return Handler
