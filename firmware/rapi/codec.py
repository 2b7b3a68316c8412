# RAPI line codec (OpenEVSE serial protocol). Pure: bytes in, objects out, never raises
# on input. Spec: rapi.md sections 1.2-1.7.
from compat import const

MAX_LINE = const(31)  # controller buffer: '$' .. last checksum digit
MAX_TOKENS = const(10)

KIND_OK = const(0)
KIND_NK = const(1)
KIND_ASYNC = const(2)

ASYNC_CMDS = ("AT", "AB", "AN", "WF", "ST")


def xor_sum(data):
    c = 0
    for b in data:
        c ^= b
    return c


def add_sum(data):
    return sum(data) & 0xFF


def encode(cmd, seq=0):
    """Frame a command string ("$SC 16 V" or "SC 16 V") with an XOR checksum and an
    optional sequence id (1..255). Returns bytes ending in CR, or raises ValueError when
    the line would exceed the controller's 31-character buffer or holds framing bytes."""
    if not cmd.startswith("$"):
        cmd = "$" + cmd
    for ch in "^*\r\n":
        if ch in cmd[1:]:
            raise ValueError("framing character in command")
    if "$" in cmd[1:]:
        raise ValueError("framing character in command")
    if seq:
        cmd = "%s :%02X" % (cmd, seq & 0xFF)
    body = cmd.encode()
    if len(body) + 3 > MAX_LINE:
        raise ValueError("command too long")
    return b"%s^%02X\r" % (body, xor_sum(body))


class Line:
    """A parsed line from the controller.

    kind: KIND_OK / KIND_NK (replies) or KIND_ASYNC; name: 'OK', 'NK', 'AT', ...;
    fields: list of str tokens after the name; seq: int sequence id or 0."""

    __slots__ = ("kind", "name", "fields", "seq", "raw")

    def __init__(self, kind, name, fields, seq, raw):
        self.kind = kind
        self.name = name
        self.fields = fields
        self.seq = seq
        self.raw = raw

    @property
    def ok(self):
        return self.kind == KIND_OK

    def __repr__(self):
        return "Line(%s %s seq=%d)" % (self.name, self.fields, self.seq)


def _hexval(s):
    v = 0
    if len(s) != 2:
        return -1
    for ch in s:
        o = ord(ch)
        if 48 <= o <= 57:
            d = o - 48
        elif 65 <= o <= 70:
            d = o - 55
        elif 97 <= o <= 102:
            d = o - 87
        else:
            return -1
        v = v * 16 + d
    return v


def parse(raw, require_checksum=False):
    """Parse one line (bytes, without CR; anything before '$' is skipped).
    Returns a Line, or None for anything malformed: bad checksum, bad token count,
    non-ASCII bytes, unknown first token. Never raises."""
    try:
        return _parse(raw, require_checksum)
    except Exception:  # defensive: malformed input must never escape as an exception
        return None


def _parse(raw, require_checksum):
    i = raw.rfind(b"$")
    if i < 0:
        return None
    data = bytes(raw[i:])
    # strip trailing whitespace/LF noise after the checksum
    while data and data[-1] in (10, 13, 32):
        data = data[:-1]
    if len(data) < 3:
        return None
    for b in data:
        if b < 32 or b > 126:
            return None
    body = data
    j = data.find(b"^")
    k = data.find(b"*")
    if j >= 0 or k >= 0:
        if j < 0 or (k >= 0 and k < j):
            mark, fn = k, add_sum
        else:
            mark, fn = j, xor_sum
        if mark < 3 or len(data) != mark + 3:
            return None
        want = _hexval(data[mark + 1 :].decode())
        body = data[:mark]
        if want < 0 or fn(body) != want:
            return None
    elif require_checksum:
        return None
    text = body.decode()
    toks = text[1:].split(" ")
    if len(toks) > MAX_TOKENS:
        return None
    name = toks[0]
    if len(name) != 2:
        return None
    seq = 0
    if len(toks) > 1 and toks[-1].startswith(":"):
        seq = _hexval(toks[-1][1:])
        if seq < 0:
            return None
        toks = toks[:-1]
    fields = toks[1:]
    if name == "OK":
        kind = KIND_OK
    elif name == "NK":
        kind = KIND_NK
    elif name in ASYNC_CMDS:
        kind = KIND_ASYNC
    else:
        return None
    return Line(kind, name, fields, seq, text)


class Framer:
    """Splits a byte stream into candidate lines on CR. A '$' restarts the line (as the
    controller does); bytes outside a line are dropped, but a CR after some of them gives
    an empty line (a line whose '$' was lost, so its reader need not sit out a timeout);
    overlong lines are discarded."""

    def __init__(self, maxlen=64):
        self._buf = bytearray()
        self._in = False
        self._junk = False  # bytes outside a line since the last CR or '$'
        self._max = maxlen
        self.overflows = 0

    def pending(self):
        """True while a line has begun and not ended (or stray bytes await their CR)."""
        return self._in or self._junk

    def feed(self, data):
        """Feed bytes; returns a list of complete raw lines (bytes, without CR)."""
        out = []
        for b in data:
            if b == 36:  # '$'
                self._buf = bytearray(b"$")
                self._in = True
                self._junk = False
            elif not self._in:
                if b == 13:
                    if self._junk:
                        out.append(b"")
                    self._junk = False
                elif b != 10:  # an LF after a CR is no damage
                    self._junk = True
                continue
            elif b == 13:
                out.append(bytes(self._buf))
                self._in = False
                self._buf = bytearray()
            else:
                if len(self._buf) >= self._max:
                    self.overflows += 1
                    self._in = False
                    self._buf = bytearray()
                else:
                    self._buf.append(b)
        return out
