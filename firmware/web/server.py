# web/server.py: the gateway's HTTP/1.1 server on asyncio, sized for the ESP32.
#
# We do not use microdot here: its core costs 21.7 KB of the ESP32's ~110 KB Python heap as
# .mpy (measured on the 32-bit runtime, README "Dependencies"), and it has no connection cap
# or header deadline, which a chip with about 10 lwIP sockets needs. This server is small
# and bounded everywhere:
#  * one request per connection (Connection: close);
#  * the request head within HEAD_MS, at most MAX_HEAD bytes; a body of at most MAX_BODY;
#  * at most MAX_HEADS connections still sending their head: a newcomer replaces the oldest
#    (slowloris, idle sockets: the chip has about 10 sockets in all); at most max_conn
#    requests served at once, a few more wait briefly, the rest get 503; see Server;
#  * every write has a deadline, so a client that stops reading cannot hold a slot.
# Handlers are found by app.handle(req) (web/app.py); this module knows nothing of the gateway.
import asyncio
import json

from compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms

MAX_HEAD = 3072
MAX_BODY = 4096
HEAD_MS = 5000
BODY_MS = 5000
WRITE_MS = 10000
WAIT_MS = 1000
MAX_WAIT = 4
MAX_HEADS = 4
# POST paths whose handler reads a large body itself, in pieces (the firmware upload, ota.py):
# the server does not read it into memory first
STREAMED = ("/update",)

REASONS = {101: "Switching Protocols", 200: "OK", 201: "Created", 302: "Found",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
           423: "Locked",
           500: "Internal Server Error", 503: "Service Unavailable"}
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=UTF-8"
HTML_TYPE = "text/html; charset=UTF-8"
_TYPES = (("html", "text/html"), ("js", "application/javascript"), ("css", "text/css"),
          ("json", JSON_TYPE), ("svg", "image/svg+xml"), ("png", "image/png"))

_buf = bytearray(512)  # file chunks; safe to share: write() sends or copies before returning


class HttpError(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


def unquote(s):
    """Percent- and plus-decoding of a query or form value (str in, str out)."""
    if "%" not in s and "+" not in s:
        return s
    b = s.replace("+", " ").encode()
    out = bytearray()
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c == 37 and i + 2 < n:  # %XX
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(c)
        i += 1
    return out.decode()  # raises UnicodeError on bad UTF-8: the caller answers 400


def json_type(ct):
    """A Content-Type of JSON. Only the media type counts: "text/plain; x=application/json"
    is text (a web page may send that without asking, web/app.py check_site)."""
    return ct.split(";", 1)[0].strip().lower() == JSON_TYPE


def parse_qs(s):
    """'a=1&b=x%20y' -> {'a': '1', 'b': 'x y'}; a bare 'a' gives 'a': ''."""
    d = {}
    for part in s.split("&"):
        if part:
            k, _, v = part.partition("=")
            d[unquote(k)] = unquote(v)
    return d


class Request:
    """One parsed request. headers: dict with lower-case names; body: bytes."""

    def __init__(self, method, target, headers, reader, writer):
        self.method = method
        path, _, self.query = target.partition("?")
        self.path = unquote(path) if "%" in path else path
        self.headers = headers
        self.reader = reader
        self.writer = writer
        self.body = b""
        self.arg = None  # the integer of a "/claims/<n>" route
        self._args = None

    def header(self, name, default=""):
        return self.headers.get(name, default)

    @property
    def args(self):
        if self._args is None:
            self._args = parse_qs(self.query)
        return self._args

    def json(self):
        """The body as JSON, or None when absent, invalid or not sent as application/json
        (web/app.py check_site). Anything json.loads raises (deep nesting: RecursionError,
        MemoryError) is a bad body, never a crash."""
        if not json_type(self.header("content-type")):
            return None
        try:
            return json.loads(self.body)
        except Exception:
            return None

    def params(self):
        """Query string merged with a k=v&... body, whatever the Content-Type (the OpenEVSE
        clients post /divertmode and /r forms as text/plain)."""
        d = dict(self.args)
        b = self.body
        if b and b[:1] not in (b"{", b"["):
            try:
                d.update(parse_qs(b.decode()))
            except (UnicodeError, ValueError):
                pass
        return d


class Stream:
    """A streamed body: an iterator of str/bytes pieces (sent without Content-Length)."""

    def __init__(self, pieces, ctype=JSON_TYPE):
        self.pieces = pieces
        self.ctype = ctype


class File:
    """A file body, optionally stored gzipped (sent with Content-Encoding: gzip)."""

    def __init__(self, path, gz=False, max_age=None):
        self.path = path
        self.gz = gz
        self.max_age = max_age


def json_pieces(pairs, size=512):
    """A JSON object from (key, value) pairs, in pieces of about `size` characters, so a large
    document (/status, /config) is never one string in memory."""
    buf = "{"
    for k, v in pairs:
        item = json.dumps(k) + ":" + json.dumps(v)
        buf = buf + item if len(buf) == 1 else buf + "," + item
        if len(buf) >= size:
            yield buf
            buf = ""
    yield buf + "}"


def content_type(path):
    ext = path.rsplit(".", 1)[-1]
    for e, t in _TYPES:
        if e == ext:
            return t
    return "application/octet-stream"


def _split_head(buf):
    """(head, rest) once buf holds a whole request head, else None."""
    i = buf.find(b"\r\n\r\n")
    j = buf.find(b"\n\n")
    if i >= 0 and (j < 0 or i < j):
        return buf[:i], buf[i + 4:]
    if j >= 0:
        return buf[:j], buf[j + 2:]
    if len(buf) > MAX_HEAD:
        raise HttpError(400)
    return None


async def _gather(reader, acc):
    """Read into acc[0] until it holds a whole head. acc survives a timeout."""
    while _split_head(acc[0]) is None:
        d = await reader.read(512)
        if not d:
            raise EOFError()
        acc[0] += d


def parse_request(buf, reader, writer):
    """A Request from a buffer that holds a whole head (body still to be read: read_body)."""
    head, rest = _split_head(buf)
    lines = head.split(b"\n")
    line, hlines = lines[0].strip(), lines[1:]
    try:
        method, target, version = line.decode().split(" ")
    except (ValueError, UnicodeError):
        raise HttpError(400)
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        raise HttpError(400)
    headers = {}
    for h in hlines:
        name, sep, value = h.partition(b":")
        if not sep:
            continue
        try:
            headers[name.strip().decode().lower()] = value.strip().decode()
        except UnicodeError:
            raise HttpError(400)
    try:
        req = Request(method, target, headers, reader, writer)
        if req.query:
            req.args  # a query that is not UTF-8 is a 400 here, not a 500 in a handler
    except UnicodeError:
        raise HttpError(400)
    if "transfer-encoding" in headers:
        raise HttpError(400)  # no chunked request bodies
    try:
        n = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400)
    if n < 0:
        raise HttpError(400)
    if n > MAX_BODY:
        if method != "POST" or req.path not in STREAMED:
            raise HttpError(413)
    req.body = rest
    req.length = n
    return req


async def read_body(req):
    n = req.length
    if n > MAX_BODY:
        return  # a STREAMED path (parse_request refused the others): the handler reads it
    if n > len(req.body):
        req.body += await wait_for_ms(req.reader.readexactly(n - len(req.body)), BODY_MS)
    req.body = req.body[:n]


def _clean(v):
    # a header value never carries a line break (no header injection from settings)
    v = str(v)
    if "\r" in v or "\n" in v:
        v = v.replace("\r", " ").replace("\n", " ")
    return v


def head(status, ctype=None, length=None, headers=None, close=True):
    h = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "OK"))
    if ctype:
        h += "Content-Type: " + ctype + "\r\n"
    if length is not None:
        h += "Content-Length: %d\r\n" % length
    if headers:
        for k in headers:
            h += k + ": " + _clean(headers[k]) + "\r\n"
    return h + ("Connection: close\r\n\r\n" if close else "\r\n")


async def write(w, data):
    w.write(data)
    await wait_for_ms(w.drain(), WRITE_MS)


async def respond(w, r, head_only=False):
    """Send a handler's result: dict/list (JSON), str/bytes, Stream, File, or a tuple
    (body, status[, headers]). None means the handler answered itself (WebSocket)."""
    if r is None:
        return
    status = 200
    headers = None
    if isinstance(r, tuple):
        status = r[1]
        if len(r) > 2:
            headers = r[2]
        r = r[0]
    ctype = None
    if headers and "Content-Type" in headers:
        headers = dict(headers)
        ctype = headers.pop("Content-Type")
    if isinstance(r, (dict, list)):
        r = json.dumps(r)
        ctype = ctype or JSON_TYPE
    if isinstance(r, str):
        r = r.encode()
        ctype = ctype or TEXT_TYPE
    if isinstance(r, (bytes, bytearray)):
        await write(w, head(status, ctype, len(r), headers).encode() + (b"" if head_only else r))
        return
    if isinstance(r, Stream):
        await write(w, head(status, ctype or r.ctype, None, headers).encode())
        for piece in r.pieces:
            if isinstance(piece, str):
                piece = piece.encode()
            await write(w, piece)
        return
    if isinstance(r, File):
        await _send_file(w, r, status, headers)
        return
    raise TypeError("handler result")


async def _send_file(w, f, status, headers):
    path = f.path + (".gz" if f.gz else "")
    try:
        fh = open(path, "rb")
    except OSError:
        await write(w, head(404, TEXT_TYPE, 0).encode())
        return
    try:
        h = dict(headers) if headers else {}
        if f.gz:
            h["Content-Encoding"] = "gzip"
        if f.max_age is not None:
            h["Cache-Control"] = "max-age=%d" % f.max_age
        await write(w, head(status, content_type(f.path), None, h).encode())
        mv = memoryview(_buf)
        while True:
            n = fh.readinto(_buf)
            if not n:
                break
            await write(w, mv[:n])
    finally:
        fh.close()


async def close(w):
    try:
        w.close()
        await wait_for_ms(w.wait_closed(), 1000)
    except Exception:
        pass


class Server:
    """Accepts connections and hands each parsed request to app.handle(req).

    Admission, so that a flood of slow or idle connections cannot lock real clients out. A
    real client sends its whole request head as soon as it has connected; a slowloris client
    or an idle socket never does:
      * at most max_heads connections may be sending their head; a newcomer beyond that takes
        the place of the oldest one (which has had the longest time to send it);
      * a complete request waits up to wait_ms for one of max_conn slots (at most max_wait
        wait), else gets 503; the whole head must arrive within head_ms.
    An upgraded WebSocket leaves its request slot (release(req.conn)): web/app.py counts those.
    The limits are attributes so tests can change them."""

    head_ms = HEAD_MS
    wait_ms = WAIT_MS
    max_wait = MAX_WAIT
    max_heads = MAX_HEADS

    def __init__(self, app, max_conn=4):
        self.app = app
        self.max_conn = max_conn
        self._busy = []  # one entry per request being served
        self._heads = []  # the tasks of connections still sending their head, oldest first
        self._waiting = 0
        self._free = asyncio.Event()
        self._srv = None
        self.refused = 0  # 503 answers
        self.evicted = 0  # connections dropped before they completed their head

    async def run(self, host, port):
        """Listen until cancelled; the listening socket is closed on every exit, so a
        restarted web task can bind the port again."""
        self._srv = await asyncio.start_server(self.serve, host, port, backlog=4)
        try:
            await self._srv.wait_closed()
        finally:
            self._srv.close()
            self._srv = None

    @property
    def listening(self):
        return self._srv is not None

    def release(self, entry):
        if entry in self._busy:
            self._busy.remove(entry)
            self._free.set()

    async def _admit(self):
        if len(self._busy) < self.max_conn:
            return True
        if self._waiting >= self.max_wait:
            return False
        self._waiting += 1
        try:
            t0 = ticks_ms()
            while len(self._busy) >= self.max_conn:
                if ticks_diff(ticks_ms(), t0) >= self.wait_ms:
                    return False
                self._free.clear()
                try:
                    await wait_for_ms(self._free.wait(), 100)
                except asyncio.TimeoutError:
                    pass
            return True
        finally:
            self._waiting -= 1

    async def serve(self, reader, writer):
        """One connection (the asyncio.start_server callback; tests call it with fake streams)."""
        me = asyncio.current_task()
        if len(self._heads) >= self.max_heads:
            self._heads.pop(0).cancel()
            self.evicted += 1
        self._heads.append(me)
        entry = None
        try:
            try:
                acc = [b""]
                await wait_for_ms(_gather(reader, acc), self.head_ms)
                req = parse_request(acc[0], reader, writer)
            except HttpError as e:
                await respond(writer, ({"msg": REASONS.get(e.status, "error")}, e.status))
                return
            except Exception:
                return  # head timeout, EOF, reset: nothing to answer
            finally:
                if me in self._heads:
                    self._heads.remove(me)
            acc = None
            if not await self._admit():
                self.refused += 1
                await write(writer, head(503, JSON_TYPE, 31).encode() + b'{"msg": "too many connections"}')
                return
            entry = req.conn = [ticks_ms()]
            self._busy.append(entry)
            try:
                await read_body(req)
            except Exception:
                return  # body timeout, EOF
            r = await self.app.handle(req)
            await respond(writer, r)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            print("web: connection error", repr(e))
        finally:
            if me in self._heads:
                self._heads.remove(me)
            if entry is not None:
                self.release(entry)
            await close(writer)
