"""Helpers for the sim tests. Checksums are computed here independently of sim/."""
import re

from sim.controller import Controller
from sim.ev import EV


def xor_hex(text):
    c = 0
    for ch in text.encode("latin-1"):
        c ^= ch
    return "%02X" % c


def add_hex(text):
    return "%02X" % (sum(text.encode("latin-1")) % 256)


def cmd(text, seq=None, form="^"):
    """'$SC 16 V' -> b'$SC 16 V :2A^0C\\r' (form '^', '*' or '' for none)."""
    if seq is not None:
        text += " :%02X" % seq
    if form == "^":
        text += "^" + xor_hex(text)
    elif form == "*":
        text += "*" + add_hex(text)
    return (text + "\r").encode("latin-1")


LINE_RE = re.compile(r"^(\$[^^\r]*)\^([0-9A-F]{2})\r\n?$")


def check(line):
    """Verify one output line's XOR checksum; return its body ('$OK 1 2')."""
    s = line.decode("latin-1")
    m = LINE_RE.match(s)
    assert m, "malformed line %r" % s
    assert xor_hex(m.group(1)) == m.group(2), "bad checksum in %r" % s
    return m.group(1)


def split_lines(data):
    out = []
    for part in data.split(b"\r"):
        if part.strip(b"\n"):
            out.append(part.lstrip(b"\n") + b"\r")
    return out


class Rig:
    """Controller + EV with a fake clock."""

    def __init__(self, ev_connected=False, boot=False, **kw):
        ev_kw = kw.pop("ev_kw", {})
        self.ev = EV(connected=ev_connected, draw_ratio=1.0, **ev_kw)
        self.t = 0
        self.c = Controller(ev=self.ev, now_ms=0, boot=boot, **kw)

    def send(self, text, seq=None, form="^"):
        """Send a command, return the checked bodies of everything emitted."""
        return self.raw(cmd(text, seq, form))

    def raw(self, data):
        out = self.c.feed(data, self.t)
        return [check(x) for x in out]

    def press(self, kind):
        """Press the front button; return checked bodies of the lines it sent."""
        return [check(x) for x in self.c.press_button(kind, self.t)]

    def run(self, ms, step=100):
        """Advance the clock by ms; return checked bodies of emitted lines."""
        bodies = []
        end = self.t + ms
        while self.t < end:
            self.t = min(end, self.t + step)
            bodies += [check(x) for x in self.c.tick(self.t)]
        return bodies

    def charge(self):
        """Plug the EV in and run until the controller is in state C."""
        self.ev.plug()
        ats = self.run(3000)
        assert self.c.state == 3, ats
        return ats
