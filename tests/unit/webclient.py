# A test client for web/server.py without sockets: each request is written as raw bytes into a
# fake stream that the real Server.serve() reads, and its raw reply is parsed back. So the
# request parser, the admission limits and the response writer are all under test.
# Runs under CPython and MicroPython (micropython-lib's way: fake sockets in tests).
import asyncio
import json


class FakeStream:
    """Both ends of one connection: the server reads `feed()` bytes, writes into `out`."""

    def __init__(self, data=b"", eof=True, peer="127.0.0.1"):
        self.peer = peer
        self.inbuf = bytes(data)
        self.out = bytearray()
        self.eof = eof
        self.closed = False
        self.ev = asyncio.Event()

    def feed(self, data):
        self.inbuf += data
        self.ev.set()

    def feed_eof(self):
        self.eof = True
        self.ev.set()

    async def read(self, n):
        while not self.inbuf:
            if self.eof or self.closed:
                return b""
            self.ev.clear()
            await self.ev.wait()
        d = self.inbuf[:n]
        self.inbuf = self.inbuf[n:]
        return d

    async def readexactly(self, n):
        d = b""
        while len(d) < n:
            x = await self.read(n - len(d))
            if not x:
                raise EOFError()
            d += x
        return d

    def get_extra_info(self, name):
        return (self.peer, 50000) if name == "peername" else None

    def write(self, data):
        if self.closed:
            raise OSError(9)
        self.out += bytes(data)

    async def drain(self):
        pass

    def close(self):
        self.closed = True
        self.ev.set()

    async def wait_closed(self):
        pass


class Response:
    def __init__(self, raw):
        head, _, body = bytes(raw).partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status_line = lines[0]
        self.status_code = int(lines[0].split(" ")[1]) if lines[0] else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip()] = v.strip()
        self.body = body

    @property
    def text(self):
        return self.body.decode()

    @property
    def json(self):
        return json.loads(self.body)


def request_bytes(method, path, body=None, headers=None):
    h = {"Host": "127.0.0.1"}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode()
    h.update(headers or {})
    if body:
        h["Content-Length"] = str(len(body))
    raw = "%s %s HTTP/1.1\r\n" % (method, path)
    for k in h:
        raw += "%s: %s\r\n" % (k, h[k])
    return (raw + "\r\n").encode() + (body or b"")


class Client:
    """client.get/post/patch/delete(path, body=None, headers=None) -> Response."""

    def __init__(self, app):
        self.app = app

    async def request(self, method, path, body=None, headers=None, stream=None, peer="127.0.0.1"):
        s = stream or FakeStream(request_bytes(method, path, body, headers), peer=peer)
        await self.app.server.serve(s, s)
        return Response(s.out)

    async def get(self, path, **kw):
        return await self.request("GET", path, **kw)

    async def post(self, path, body=None, **kw):
        return await self.request("POST", path, body, **kw)

    async def patch(self, path, body=None, **kw):
        return await self.request("PATCH", path, body, **kw)

    async def delete(self, path, **kw):
        return await self.request("DELETE", path, **kw)
