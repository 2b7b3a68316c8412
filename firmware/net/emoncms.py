# Emoncms poster: every 30 s (and at once after an emoncms_* setting changes) the EVSE
# values go to <server>/input/post?fulljson=...&node=...&apikey=... as one HTTP GET, the
# request the C++ gateway makes (src/emoncms.cpp). Our own small asyncio GET: one socket,
# a 5 s deadline over connect + send + reply, closed in finally; the host is resolved once
# (getaddrinfo blocks the loop) and again only after a failed connection. See docs/emoncms.md.
import asyncio
import json
import socket

from compat import ticks_add, ticks_diff, ticks_ms, wait_for_ms
from net import tls_context

PERIOD = 30000  # ms between posts (the C++ gateway posts on each ~30 s EVSE data bundle)
TIMEOUT = 5000  # ms for one whole request: connect, send, reply
BACKOFF_MAX = 300000  # ms: a failing server is tried at least this often
READY_POLL = 1000  # ms: waiting for the first EVSE values / for settings
MAX_REPLY = 2048  # bytes of the reply we read at most (headers + body)
MAX_MSG = 64  # chars of the server message kept (as the C++ gateway)

# Input names: those of the Emoncms "OpenEVSE" device template (amp, wh, temp1, temp2, temp4,
# state, vehicle, manual_override, pilot, divertmode) and the rest of the C++ bundle; each is
# the /status key of the same name except wh = /status watthour. Units as /status: amp mA,
# voltage V, power W, pilot A, wh = total Wh, session_energy Wh, temps 0.1 degC.
INPUTS = ("amp voltage power pilot max_current wh session_energy temp temp1 temp2 temp3 temp4 "
          "state vehicle manual_override divertmode freeram srssi")
_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"

# -- pure helpers (no I/O) ---------------------------------------------------------------


def urlencode(s):
    """Percent-encode a str for a query value (everything but RFC 3986 unreserved)."""
    out = []
    for c in s.encode() if isinstance(s, str) else s:
        if c in _SAFE:
            out.append(chr(c))
        else:
            out.append("%%%02X" % c)
    return "".join(out)


def inputs(status):
    """The (name, int) pairs posted from a /status dict, in INPUTS order. Floats are
    rounded; False (no such sensor), None, strings and NaN are left out."""
    out = []
    for name in INPUTS.split():
        v = status.get("watthour" if name == "wh" else name)
        if v is None or v is False or isinstance(v, str):
            continue
        if v is True:
            v = 1
        elif isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                continue
            v = int(v + 0.5) if v >= 0 else -int(-v + 0.5)
        elif not isinstance(v, int):
            continue
        out.append((name, v))
    return out


def to_json(pairs):
    """'{"amp":16000,...}' from (name, int) pairs, in order (dicts are unordered on MicroPython)."""
    return "{" + ",".join('"%s":%d' % (k, v) for k, v in pairs) + "}"


def parse_server(server):
    """'https://host:port/path' -> (tls, host, port, path). No scheme means http, as the
    v2 gateway. Raises ValueError for an empty host or a bad port."""
    s = (server or "").strip()
    tls = False
    i = s.find("://")
    if i >= 0:
        scheme = s[:i].lower()
        if scheme not in ("http", "https"):
            raise ValueError("server must start with http:// or https://")
        tls = scheme == "https"
        s = s[i + 3:]
    j = s.find("/")
    hostport, path = (s, "") if j < 0 else (s[:j], s[j:])
    while path.endswith("/"):
        path = path[:-1]
    host, _, p = hostport.partition(":")
    port = 443 if tls else 80
    if p:
        try:
            port = int(p)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise ValueError("bad port")
    if not host or "@" in host or " " in host:
        raise ValueError("server has no valid host")
    return tls, host, port, path


def post_path(path, fulljson, node, apikey):
    """The request target: {path}/input/post?fulljson=<enc>&node=<enc>&apikey=<enc>."""
    return "%s/input/post?fulljson=%s&node=%s&apikey=%s" % (
        path, urlencode(fulljson), urlencode(node), urlencode(apikey))


def build_request(host, port, target, tls=False):
    """The whole HTTP/1.0 GET request as bytes (HTTP/1.0: no chunked reply, server closes)."""
    h = host
    if port != (443 if tls else 80):
        h += ":%d" % port
    return ("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: openevse-mpy\r\n"
            "Connection: close\r\n\r\n" % (target, h)).encode()


def parse_response(raw):
    """Raw HTTP reply bytes (possibly cut at MAX_REPLY) -> (status code, body bytes).
    Raises ValueError if it is not HTTP. (We ask with HTTP/1.0: never a chunked reply.)"""
    if not raw.startswith(b"HTTP/"):
        raise ValueError("not an HTTP reply")
    i = raw.find(b"\r\n\r\n")
    if i < 0:
        i = raw.find(b"\n\n")
        head, body = (raw, b"") if i < 0 else (raw[:i], raw[i + 2:])
    else:
        head, body = raw[:i], raw[i + 4:]
    lines = head.split(b"\n")
    parts = lines[0].split()
    if len(parts) < 2 or len(parts[1]) != 3:
        raise ValueError("bad status line")
    try:
        code = int(parts[1])
    except ValueError:
        raise ValueError("bad status code")
    clen = None
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            try:
                clen = int(v.strip())
            except ValueError:
                pass
    if clen is not None and 0 <= clen < len(body):
        body = body[:clen]
    return code, body


def parse_reply(code, body):
    """(ok, message) for an /input/post reply, as the C++ gateway judges it: a JSON object
    with "success": true, or the literal body ok (older Emoncms). Anything else fails."""
    text = _text(body).strip()
    ok = False
    msg = text
    try:
        d = json.loads(text)
    except ValueError:
        d = None
    if isinstance(d, dict):
        ok = d.get("success") is True
        m = d.get("message")
        msg = m if isinstance(m, str) else ("ok" if ok else text)
    elif text == "ok":
        ok = True
    if ok and not 200 <= code < 300:
        ok = False
    if not msg:
        msg = "HTTP %d" % code if not 200 <= code < 300 else "Empty reply"
    elif not ok and not 200 <= code < 300:
        msg = "HTTP %d: %s" % (code, msg)
    return ok, msg[:MAX_MSG]


def _text(b):
    if isinstance(b, str):
        return b
    try:
        return bytes(b).decode()
    except UnicodeError:  # MicroPython has no errors="replace"
        return "".join(chr(c) if 32 <= c < 127 else "?" for c in b)


def backoff_ms(fails):
    """Delay before the next post after `fails` failures in a row: 30, 30, 60, 120, 240, 300 s."""
    if fails <= 1:
        return PERIOD
    d = PERIOD << min(fails - 1, 4)
    return d if d < BACKOFF_MAX else BACKOFF_MAX


# -- I/O ----------------------------------------------------------------------------------


async def _exchange(reader, writer, req, limit):
    writer.write(req)
    await writer.drain()
    buf = bytearray()
    while len(buf) < limit:
        b = await reader.read(limit - len(buf))
        if not b:
            break
        buf.extend(b)
        if _complete(buf):
            break
    return bytes(buf)


def _complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = bytes(buf[:i]).lower()
    j = head.find(b"content-length:")
    if j < 0:
        return False
    try:
        n = int(head[j + 15:].split(b"\r\n")[0].strip())
    except ValueError:
        return False
    return len(buf) - i - 4 >= n


async def http_get(ai, req, timeout_ms=TIMEOUT, tls=None, server_hostname=None,
                   limit=MAX_REPLY):
    """Send req to the address ai (a getaddrinfo entry) and return the raw reply (at most
    limit bytes). One deadline over the whole exchange; the socket is always closed.
    Raises OSError, asyncio.TimeoutError. MicroPython streams (asyncio.StreamReader(sock))."""
    import errno

    s = socket.socket(ai[0], ai[1], ai[2])
    ss = s
    try:
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != errno.EINPROGRESS:
                raise
        if tls is not None:
            ss = tls.wrap_socket(s, server_hostname=server_hostname,
                                 do_handshake_on_connect=False)
            ss.setblocking(False)
        st = asyncio.StreamReader(ss)
        # drain() waits until the socket is writable, i.e. connected
        return await wait_for_ms(_exchange(st, st, req, limit), timeout_ms)
    finally:
        if ss is not s:
            try:
                ss.close()
            except Exception:
                pass
        s.close()


# -- the service ----------------------------------------------------------------------------


class EmoncmsService:
    def __init__(self, gw):
        self.gw = gw
        self.connected = 0
        self.sent = 0
        self.success = 0
        self.message = ""
        self.fails = 0
        self.last_ms = None  # duration of the last post
        self._wake = asyncio.Event()
        self._poke = True  # post at once (startup, settings changed)
        self._next = None
        self._addr = None  # (host, port, getaddrinfo entry)
        self._tls = None
        oc = getattr(gw.config, "on_change", None)
        if isinstance(oc, list):
            oc.append(self._on_config)

    def status(self):
        return {"emoncms_connected": self.connected, "packets_sent": self.sent,
                "packets_success": self.success, "emoncms_message": self.message}

    def _cfg(self, key, default=""):
        try:
            v = self.gw.config.get(key)
        except KeyError:
            return default
        return default if v is None else v

    def _on_config(self, keys):
        for k in keys:
            if k.startswith("emoncms_"):  # any of them: post at once to check the settings
                self._poke = True
                self.fails = 0
                if k == "emoncms_server":
                    self._addr = None
                self._wake.set()
                return

    def active(self):
        return bool(self._cfg("emoncms_enabled", False) and self._cfg("emoncms_server")
                    and self._cfg("emoncms_apikey"))

    def _evse_ready(self):
        m = getattr(self.gw, "model", None)
        return m is None or bool(getattr(m, "evse_connected", True))

    async def _sleep(self, ms):
        self._wake.clear()
        try:
            await wait_for_ms(self._wake.wait(), ms)
        except asyncio.TimeoutError:
            pass

    async def run(self):
        while True:
            if not self.active():
                if self.connected:
                    self._result(False, "Disabled", count=False)
                await self._sleep(5000)
                continue
            if not self._evse_ready():
                await self._sleep(READY_POLL)
                continue
            now = ticks_ms()
            if self._poke or self._next is None or ticks_diff(now, self._next) >= 0:
                self._poke = False
                ok = await self.post_once()
                self._next = ticks_add(ticks_ms(), PERIOD if ok else backoff_ms(self.fails))
                continue
            await self._sleep(min(ticks_diff(self._next, now), 5000))

    def _resolve(self, host, port):
        a = self._addr
        if a is not None and a[0] == host and a[1] == port:
            return a[2]
        # blocks the loop for a DNS lookup: once, and again only after failures
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        self._addr = (host, port, ai)
        return ai

    async def post_once(self):
        """One post; returns True on success. Never raises (except cancellation)."""
        t0 = ticks_ms()
        try:
            tls, host, port, path = parse_server(self._cfg("emoncms_server"))
            body = to_json(inputs(self.gw.status()))
            target = post_path(path, body, self._cfg("emoncms_node") or "openevse",
                               self._cfg("emoncms_apikey"))
            req = build_request(host, port, target, tls)
            body = target = None
        except Exception as e:
            self.sent += 1
            return self._result(False, "Bad settings: %s" % e)
        self.sent += 1
        ok, msg = False, ""
        stage = "DNS"
        try:
            ai = self._resolve(host, port)
            stage = "request"
            ctx = None
            if tls:
                if self._tls is None:
                    self._tls = tls_context()
                ctx = self._tls
            raw = await http_get(ai, req, TIMEOUT, ctx, host)
            stage = "reply"
            if not raw:
                raise OSError("no reply")
            code, rbody = parse_response(raw)
            ok, msg = parse_reply(code, rbody)
        except asyncio.TimeoutError:
            msg = "Timeout (%d s)" % (TIMEOUT // 1000)
            self._addr = None
        except OSError as e:
            msg = "%s failed: %s" % (stage, e)
            self._addr = None
        except Exception as e:  # a bad reply, MemoryError, no ssl module...
            msg = "%s failed: %r" % (stage, e)
        self.last_ms = ticks_diff(ticks_ms(), t0)
        return self._result(ok, msg)

    def _result(self, ok, msg, count=True):
        if count:
            if ok:
                self.success += 1
                self.fails = 0
            else:
                self.fails += 1
        ch = {}
        c = 1 if ok else 0
        msg = (msg or "")[:MAX_MSG]
        if c != self.connected or msg != self.message:
            if c != self.connected or not ok:
                print("emoncms:", "ok" if ok else "failed:", msg)
            self.connected = c
            self.message = msg
            ch["emoncms_connected"] = c
            ch["emoncms_message"] = msg
        if count:
            ch["packets_sent"] = self.sent
            ch["packets_success"] = self.success
        if ch:
            self.gw.bus.publish(ch)
        return ok
