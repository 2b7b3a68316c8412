# Small non-blocking MQTT 3.1.1 client for the firmware's asyncio loop.
# Written from the OASIS MQTT 3.1.1 spec: qos0 publish and subscribe, keepalive pings,
# last will, reconnect with backoff, resubscribe after reconnect. Every socket operation
# is bounded by a timeout, so a dead broker or a frozen link never stalls the loop.
# Runs unchanged under MicroPython and CPython asyncio. See docs/mqtt.md.
import asyncio
import socket
import struct

from compat import const, sleep_ms, ticks_diff, ticks_ms, wait_for_ms

CONNECT_TIMEOUT = const(5000)  # ms: TCP connect + CONNECT + CONNACK
WRITE_TIMEOUT = const(5000)  # ms: a drain that takes longer declares the link dead
BACKOFF_MIN = const(1000)
BACKOFF_MAX = const(30000)
DNS_RETRY = const(3)  # re-resolve the host after this many failed connects in a row

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class MQTTError(Exception):
    pass


# ---- codec (pure) -------------------------------------------------------------------


def enc_len(n):
    """Remaining Length as a variable byte integer (spec 2.2.3)."""
    if n < 0 or n > 268435455:
        raise ValueError("length")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_len(buf, i=0):
    """Decode a Remaining Length at buf[i]. Returns (value, index after it).
    Raises ValueError if malformed (more than 4 bytes) or truncated."""
    n = 0
    shift = 0
    for k in range(4):
        if i + k >= len(buf):
            raise ValueError("truncated")
        b = buf[i + k]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i + k + 1
        shift += 7
    raise ValueError("malformed length")


def _b(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def _str(s):
    s = _b(s)
    if len(s) > 65535:
        raise ValueError("string too long")
    return struct.pack("!H", len(s)) + s


def connect_pkt(client_id, user=None, password=None, keepalive=0, will=None, clean=True):
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will:
        topic, msg, retain, qos = will
        flags |= 0x04 | (qos & 3) << 3 | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", keepalive) + payload
    return b"\x10" + enc_len(len(body)) + body


def publish_pkt(topic, msg, retain=False, qos=0, pid=0):
    t = _str(topic)
    msg = _b(msg)
    n = len(t) + len(msg) + (2 if qos else 0)
    hdr = bytes((0x30 | (qos & 3) << 1 | (1 if retain else 0),)) + enc_len(n)
    return hdr + t + (struct.pack("!H", pid) if qos else b"") + msg


def subscribe_pkt(pid, topics):
    body = struct.pack("!H", pid)
    for t in topics:
        body += _str(t) + b"\x00"  # requested qos 0
    return b"\x82" + enc_len(len(body)) + body


def parse_publish(flags, body):
    """body = variable header + payload of a PUBLISH. Returns (topic, msg, retained, qos, pid)."""
    tl = body[0] << 8 | body[1]
    if 2 + tl > len(body):
        raise ValueError("topic length")
    topic = bytes(body[2 : 2 + tl])
    i = 2 + tl
    qos = flags >> 1 & 3
    pid = 0
    if qos:
        pid = body[i] << 8 | body[i + 1]
        i += 2
    return topic, bytes(body[i:]), bool(flags & 1), qos, pid


def valid_filter(t):
    """A subscription filter mosquitto will accept (an invalid one makes it drop the link)."""
    t = _b(t)
    if not t or len(t) > 1024 or b"\x00" in t:
        return False
    levels = t.split(b"/")
    for k, lv in enumerate(levels):
        if b"#" in lv and (lv != b"#" or k != len(levels) - 1):
            return False
        if b"+" in lv and lv != b"+":
            return False
    return True


def valid_topic(t):
    t = _b(t)
    return 0 < len(t) <= 1024 and b"+" not in t and b"#" not in t and b"\x00" not in t


def resolve(host, port):
    """DNS once: returns an IPv4 literal usable by asyncio.open_connection."""
    ai = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0]
    sa = ai[-1]
    if isinstance(sa, tuple):  # CPython, ESP32
        return sa[0]
    if len(sa) >= 8:  # MicroPython unix: raw struct sockaddr_in
        return "%d.%d.%d.%d" % (sa[4], sa[5], sa[6], sa[7])
    return host


def _backlog(w):
    b = getattr(w, "out_buf", None)  # MicroPython Stream
    if b is not None:
        return len(b)
    return w.transport.get_write_buffer_size()


# ---- client -------------------------------------------------------------------------


class MQTTClient:
    def __init__(
        self,
        client_id,
        host,
        port=1883,
        user=None,
        password=None,
        keepalive=30,
        will=None,
        ssl=None,
        on_message=None,
        on_connect=None,
        outbox=48,
        max_packet=1024,
        backoff_max=BACKOFF_MAX,
    ):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = will
        self.ssl = ssl
        self.on_message = on_message
        self.on_connect = on_connect
        self.max_packet = max_packet
        self.backoff_max = backoff_max
        self.connected = False
        self.last_error = None
        # connects, failures, lost links, published, dropped (outbox full), received,
        # oversize packets skipped, callback errors
        self.stats = {"connects": 0, "fails": 0, "lost": 0, "tx": 0, "drops": 0, "rx": 0}
        self.stats["oversize"] = 0
        self.stats["cb_errors"] = 0
        self._outbox_max = outbox
        self._outbox = []
        self._subs = []
        self._pend_subs = []
        self._acks = []
        self._wake = asyncio.Event()
        self._addr = None
        self._fails = 0
        self._pid = 0
        self._stop = False
        self._dead = False
        self._w = None
        self._last_rx = 0

    # -- caller API (never blocks) --

    def publish(self, topic, msg, retain=False):
        """Queue a qos0 publish. When the outbox is full the oldest message is dropped."""
        if not valid_topic(topic):
            self.stats["drops"] += 1
            return False
        if len(self._outbox) >= self._outbox_max:
            self._outbox.pop(0)
            self.stats["drops"] += 1
        self._outbox.append((topic, msg, retain))
        self._wake.set()
        return True

    def room(self):
        return self._outbox_max - len(self._outbox)

    def subscribe(self, topic):
        """Register a filter: sent now if connected, and again after every reconnect."""
        topic = _b(topic)
        if not valid_filter(topic):
            raise ValueError("bad topic filter")
        if topic not in self._subs:
            self._subs.append(topic)
            if self.connected:
                self._pend_subs.append(topic)
                self._wake.set()

    async def disconnect(self):
        """Graceful DISCONNECT (no will) and stop run()."""
        self._stop = True
        w = self._w
        if self.connected and w is not None:
            try:
                w.write(DISCONNECT)
                await wait_for_ms(w.drain(), 1000)
            except Exception:
                pass
        self._wake.set()

    # -- the task --

    async def run(self):
        backoff = BACKOFF_MIN
        while not self._stop:
            ok = False
            try:
                ok = await self._session()
            except Exception as e:
                why = repr(e)
                if why != self.last_error:  # said once per new reason, not on every retry
                    print("mqtt: connect failed:", why)
                self.last_error = why
            if self._stop:
                break
            if ok:
                self.stats["lost"] += 1
                backoff = BACKOFF_MIN
            else:
                self.stats["fails"] += 1
                self._fails += 1
            await sleep_ms(backoff)
            if not ok:
                backoff = min(backoff * 2, self.backoff_max)

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    async def _session(self):
        """One connection. Returns True if it got a CONNACK (then lost the link)."""
        t0 = ticks_ms()
        if self._addr is None or self._fails >= DNS_RETRY:
            self._fails = 0
            self._addr = None
            self._addr = resolve(self.host, self.port)
        if self.ssl:
            conn = asyncio.open_connection(
                self._addr, self.port, ssl=self.ssl, server_hostname=self.host
            )
        else:
            conn = asyncio.open_connection(self._addr, self.port)
        r, w = await wait_for_ms(conn, CONNECT_TIMEOUT)
        self._w = w
        self._dead = False
        rx = None
        try:
            w.write(
                connect_pkt(
                    self.client_id, self.user, self.password, self.keepalive, self.will
                )
            )
            left = CONNECT_TIMEOUT - ticks_diff(ticks_ms(), t0)
            await wait_for_ms(w.drain(), max(left, 100))
            left = CONNECT_TIMEOUT - ticks_diff(ticks_ms(), t0)
            t, body = await wait_for_ms(self._read_packet(r), max(left, 100))
            if t & 0xF0 != 0x20 or body is None or len(body) < 2:
                raise MQTTError("no CONNACK")
            if body[1]:
                raise MQTTError("CONNACK rc=%d" % body[1])
            self._fails = 0
            self._last_rx = ticks_ms()
            self._pend_subs = list(self._subs)
            self._acks = []
            self.connected = True
            self.stats["connects"] += 1
            if self.on_connect:
                asyncio.create_task(self._call_on_connect())
            rx = asyncio.create_task(self._rx(r))
            try:
                await self._tx(w)
            except Exception as e:
                self.last_error = repr(e)
            return True
        finally:
            self.connected = False
            self._w = None
            if rx is not None:
                rx.cancel()
            try:
                w.close()
                await wait_for_ms(w.wait_closed(), 500)
            except Exception:
                pass

    async def _call_on_connect(self):
        try:
            await self.on_connect(self)
        except Exception as e:
            self.stats["cb_errors"] += 1
            print("mqtt: on_connect error", repr(e))

    async def _read_packet(self, r):
        """Read one packet: (first byte, body bytes) or (first byte, None) if it was larger
        than max_packet (then it is drained in small chunks, never allocated whole)."""
        h = (await r.readexactly(1))[0]
        n = 0
        shift = 0
        while True:
            b = (await r.readexactly(1))[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed length")
        if n > self.max_packet:
            self.stats["oversize"] += 1
            while n:
                chunk = await r.read(min(n, 128))
                if not chunk:
                    raise EOFError
                n -= len(chunk)
            return h, None
        return h, (await r.readexactly(n) if n else b"")

    async def _rx(self, r):
        try:
            while True:
                h, body = await self._read_packet(r)
                self._last_rx = ticks_ms()
                t = h & 0xF0
                if t == 0x30 and body is not None:
                    topic, msg, retained, qos, pid = parse_publish(h & 0x0F, body)
                    body = None
                    self.stats["rx"] += 1
                    if qos == 1:
                        self._acks.append(pid)
                        self._wake.set()
                    if self.on_message:
                        try:
                            self.on_message(topic, msg, retained)
                        except Exception as e:
                            self.stats["cb_errors"] += 1
                            print("mqtt: on_message error", repr(e))
                elif t == 0x90 and body is not None:
                    if b"\x80" in body[2:]:
                        print("mqtt: subscription refused")
                # PINGRESP (0xD0) and anything else: only refreshes _last_rx
        except Exception as e:
            self.last_error = repr(e)
        self._dead = True
        self._wake.set()

    async def _send(self, w, pkt):
        w.write(pkt)
        if _backlog(w):
            await wait_for_ms(w.drain(), WRITE_TIMEOUT)
        else:
            await sleep_ms(0)

    async def _tx(self, w):
        ka = self.keepalive * 1000
        last_ping = ticks_ms()
        while not self._dead and not self._stop:
            now = ticks_ms()
            if ka:
                if ticks_diff(now, self._last_rx) > ka * 3 // 2:
                    raise MQTTError("keepalive timeout")
                if ticks_diff(now, last_ping) >= ka // 2:
                    last_ping = now
                    await self._send(w, PINGREQ)
                    continue
            if self._pend_subs:
                topics = self._pend_subs
                self._pend_subs = []
                await self._send(w, subscribe_pkt(self._next_pid(), topics))
            elif self._acks:
                await self._send(w, b"\x40\x02" + struct.pack("!H", self._acks.pop(0)))
            elif self._outbox:
                topic, msg, retain = self._outbox.pop(0)
                try:
                    pkt = publish_pkt(topic, msg, retain)
                except (ValueError, TypeError):
                    self.stats["drops"] += 1
                    continue
                await self._send(w, pkt)
                self.stats["tx"] += 1
            else:
                self._wake.clear()
                wait = 1000
                if ka:
                    wait = min(ka // 2 - ticks_diff(now, last_ping),
                               ka * 3 // 2 - ticks_diff(now, self._last_rx))
                    wait = max(wait, 10)
                try:
                    await wait_for_ms(self._wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
