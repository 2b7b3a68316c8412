"""End-to-end tests over a real pty, the HTTP control API and the CLI."""
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from sim.server import SimServer
from sim_helpers import check, cmd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Port:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.buf = b""

    def close(self):
        os.close(self.fd)

    def write(self, data):
        os.write(self.fd, data)

    def lines(self, timeout=0.5, until=None):
        """Read CR-terminated lines until `until` matches a body or timeout."""
        end = time.monotonic() + timeout
        out = []
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.02)
            if r:
                self.buf += os.read(self.fd, 4096)
            while b"\r" in self.buf:
                line, self.buf = self.buf.split(b"\r", 1)
                out.append(line.lstrip(b"\n") + b"\r")
                if until is not None and until(out[-1]):
                    return out
        return out

    def command(self, text, timeout=1.0):
        """Send a command; return the checked reply body. Async lines around it
        (e.g. the $AT that follows) go to self.async_lines."""
        self.write(cmd(text))
        out = self.lines(timeout, until=lambda l: l[:3] in (b"$OK", b"$NK"))
        assert out and out[-1][:3] in (b"$OK", b"$NK"), out
        self.async_lines = [check(x) for x in out[:-1] + self.lines(0.1)]
        return check(out[-1])


def http(sim, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sim.control_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture
def sim(tmp_path):
    s = SimServer(link=str(tmp_path / "evse.tty"), control_port=0, ev_connected=False,
                  seed=1, ev_kwargs={"start_delay_ms": 200, "ramp_ma_per_s": 50000})
    s.start()
    p = Port(s.link)
    p.lines(0.8)                     # boot sequence
    yield s, p
    p.close()
    s.stop()
    assert not os.path.lexists(s.link)


def test_pty_gv_roundtrip_and_pacing(sim):
    s, p = sim
    assert os.path.islink(s.link) and os.readlink(s.link) == s.tty_path
    t0 = time.perf_counter()
    p.write(b"$GV^35\r")
    out = p.lines(1.0, until=lambda l: l.startswith(b"$OK"))
    dt = time.perf_counter() - t0
    assert out[-1] == b"$OK 8.2.3 5.2.1^2F\r"
    assert check(out[-1]) == "$OK 8.2.3 5.2.1"
    assert dt >= len(out[-1]) * 10 / 115200 * 0.9             # paced at 115200 baud
    # no echo / no CR->NL translation on the raw pty
    p.write(b"$GS^30\r")
    line = p.lines(1.0, until=lambda l: l.startswith(b"$OK"))[-1]
    assert line.startswith(b"$OK 01 ") and b"\n" not in line


def test_boot_sequence_on_start(tmp_path):
    s = SimServer(link=str(tmp_path / "t.tty"), control_port=0, ev_connected=True)
    s.start()
    try:
        p = Port(s.link)
        bodies = [check(x) for x in p.lines(1.5)]
        p.close()
    finally:
        s.stop()
    assert bodies[:3] == ["$AT 00 00 32 0200", "$AB 00 8.2.3", "$AT 02 02 32 0100"]


def test_http_state_plug_charge_unplug(sim):
    s, p = sim
    st = http(s, "GET", "/state")
    for k in ("state", "pilot_state", "current_a", "ev_connected", "ev_amps_ma", "voltage_mv",
              "vflags", "temps", "session_ws", "total_wh", "eeprom_writes", "eeprom",
              "heartbeat", "boots", "command_counts", "faults"):
        assert k in st
    assert st["state"] == 1 and st["boots"] == 1
    http(s, "POST", "/ev", {"connected": True})
    ats = [check(x) for x in p.lines(2.5)]
    assert "$AT 02 02 32 0100" in ats and "$AT 03 03 32 0140" in ats
    time.sleep(0.5)
    st = http(s, "GET", "/state")
    assert st["state"] == 3 and st["ev_amps_ma"] > 0
    w = st["eeprom_writes"]
    assert p.command("$SC 10 V") == "$OK 10"
    assert p.async_lines == ["$AT 03 03 10 0140"]             # $AT after the reply
    assert http(s, "GET", "/state")["eeprom_writes"] == w
    http(s, "POST", "/ev", {"connected": False})
    assert [check(x) for x in p.lines(0.6)] == ["$AT 01 01 10 0200"]
    log = http(s, "GET", "/log?since=0")
    assert [e["name"] for e in log] == ["$SC"] and log[0]["args"] == ["10", "V"]
    assert http(s, "GET", "/log?since=1") == []
    assert http(s, "GET", "/state")["command_counts"] == {"$SC": 1}


def test_fault_injection_corrupt_drop_delay_silent(sim):
    s, p = sim
    http(s, "POST", "/faults", {"corrupt_out": 1.0})
    p.write(b"$GV^35\r")
    raw = p.lines(0.5) + [p.buf]
    assert all(x != b"$OK 8.2.3 5.2.1^2F\r" for x in raw)
    p.buf = b""
    http(s, "POST", "/faults", {"corrupt_out": 0.0, "drop": 1.0})
    p.write(b"$GV^35\r")
    assert p.lines(0.4) == []
    st = http(s, "GET", "/state")
    assert st["stats"]["replies_dropped"] == 1 and st["command_counts"]["$GV"] == 2
    http(s, "POST", "/faults", {"drop": 0.0, "delay_ms": 300})
    t0 = time.monotonic()
    assert p.command("$GV") == "$OK 8.2.3 5.2.1"
    assert time.monotonic() - t0 >= 0.3
    http(s, "POST", "/faults", {"delay_ms": 0, "silent": True})
    p.write(b"$GV^35\r")
    assert p.lines(0.4) == []
    assert http(s, "GET", "/state")["command_counts"]["$GV"] == 3   # never reached it
    http(s, "POST", "/faults", {"silent": False})
    assert p.command("$GV") == "$OK 8.2.3 5.2.1"
    http(s, "POST", "/faults", {"silent_s": 0.3})
    p.write(b"$GV^35\r")
    assert p.lines(0.2) == []
    time.sleep(0.3)
    assert p.command("$GV") == "$OK 8.2.3 5.2.1"
    http(s, "POST", "/faults", {"corrupt_in": 1.0})
    p.write(b"$GV^35\r" * 3)
    p.lines(0.3)
    assert http(s, "GET", "/state")["stats"]["bytes_corrupted_in"] == 21
    http(s, "POST", "/faults", {"corrupt_in": 0.0})
    assert p.command("$GV") == "$OK 8.2.3 5.2.1"


def test_reboot_and_forced_fault(sim):
    s, p = sim
    assert p.command("$SC 10 V") == "$OK 10"
    http(s, "POST", "/reboot", {"delay_ms": 0})
    bodies = [check(x) for x in p.lines(1.0)]
    assert bodies[:3] == ["$AT 00 00 32 0200", "$AB 00 8.2.3", "$AT 01 01 32 0200"]
    assert http(s, "GET", "/state")["boots"] == 2
    st = http(s, "POST", "/fault", {"state": "gfci"})
    assert st["state"] == 6
    assert [check(x) for x in p.lines(0.3)] == ["$AT 06 01 32 0280"]
    assert p.command("$GF") == "$OK 1 0 0"
    http(s, "POST", "/fault", {"state": 0})
    assert [check(x) for x in p.lines(0.5)] == ["$AT 01 01 32 0280"]
    p.write(b"$FR^30\r")
    bodies = [check(x) for x in p.lines(3.5)]
    assert bodies[:2] == ["$AT 00 00 32 0200", "$AB 00 8.2.3"]


def test_button_endpoint(sim):
    s, p = sim
    assert p.command("$FF B 0") == "$OK"
    http(s, "POST", "/button", {"press": "long"})
    assert [check(x) for x in p.lines(0.3)] == ["$AN 1"]
    http(s, "POST", "/button", {"press": "verylong"})
    assert [check(x) for x in p.lines(0.3)] == ["$WF 02"]
    with pytest.raises(urllib.error.HTTPError) as e:
        http(s, "POST", "/button", {"press": "double"})
    assert e.value.code == 400


def test_temp_endpoint(sim):
    s, p = sim
    http(s, "POST", "/temp", {"temp1": 321})
    assert p.command("$GP") == "$OK 321 260 -2560"


def test_cli_run_ctl_and_sigterm(tmp_path):
    link = str(tmp_path / "cli.tty")
    proc = subprocess.Popen([sys.executable, "-m", "sim", "--link", link, "--control-port", "0",
                             "--no-ev"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("sim: pty %s control http://127.0.0.1:" % link)
        port = int(line.rsplit(":", 1)[1])
        out = subprocess.run([sys.executable, "-m", "sim", "ctl", "--port", str(port), "plug"],
                             cwd=ROOT, capture_output=True, text=True, timeout=10)
        assert out.returncode == 0 and json.loads(out.stdout)["ev"]["connected"] is True
        out = subprocess.run([sys.executable, "-m", "sim", "ctl", "--port", str(port),
                              "corrupt", "0.05"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        assert json.loads(out.stdout)["faults"]["corrupt_out"] == 0.05
        out = subprocess.run([sys.executable, "-m", "sim", "ctl", "--port", str(port),
                              "fault", "gfci"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        assert json.loads(out.stdout)["state"] == 6
        assert os.path.islink(link)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
    assert rc == 0 and not os.path.lexists(link)


def test_tcp_mode():
    import socket
    s = SimServer(tcp_port=0, control_port=0, ev_connected=False, boot=False)
    s.start()
    try:
        c = socket.create_connection(("127.0.0.1", s.tcp_port), timeout=2)
        time.sleep(0.1)
        c.sendall(b"$GV^35\r")
        buf = b""
        end = time.monotonic() + 2
        while b"$OK" not in buf or not buf.endswith(b"\r"):
            assert time.monotonic() < end
            buf += c.recv(100)
        assert buf.endswith(b"$OK 8.2.3 5.2.1^2F\r")
        c.close()
    finally:
        s.stop()
