"""A fake Emoncms server for tests (CPython, http.server, 127.0.0.1, a free port).

It answers `/input/post` (also `/input/post.json` and `/input/post/<node>`, under an
optional path prefix such as `/emoncms`) as Emoncms does (emoncms/emoncms `index.php`,
`Modules/input/input_controller.php`, `input_methods.php`):

- apikey unknown: HTTP 401, `WWW-Authenticate: Bearer realm="API KEY", error="invalid_apikey"...`,
  text body `Invalid API key` (index.php checks the key before any route).
- read-only apikey: HTTP 200 with an empty body (the input controller has no read action
  for post, and PHP prints `false` as nothing).
- no apikey (and no session): HTTP 200 with a JSON string (Emoncms renders its login page
  into the JSON output); here `"Authentication Required"`.
- write apikey: `fulljson` decoded with depth 2, else `json`/`csv`/`data`; replies with status
  200 and text/plain `{"success": true}` (fulljson) or `ok` (other forms), or
  `{"success": false, "message": "..."}` with the Emoncms message texts. The node name is
  cleaned like Emoncms (letters, digits, `_`, space, `-`, `.` kept); values are stored
  as floats (PHP `(float)` cast: true -> 1, strings -> their leading number or 0).

Received inputs are kept per node (`inputs[node][name] = value`, plus `posts`, a log of
each request). Fault modes (`mode`): "ok", "slow" (reply after `delay` s), "hang" (accept,
read the request, send nothing for `delay` s), "garbage" (non-HTTP bytes), "flood"
(an endless reply body for `delay` s), "close" (close without a reply), "http500".
`reply_delay` (s, default from FAKE_EMONCMS_REPLY_DELAY, else 0) holds every reply back
after the request has been recorded, as a real server over a slow link does: a test that
reads the gateway's counters before the reply arrived fails with it.
Optional TLS with a throwaway self-signed certificate (openssl CLI).

CLI: python tests/tools/fake_emoncms.py [--port N] [--apikey KEY] [--tls]
"""
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WRITE_KEY = "0123456789abcdef0123456789abcdef"
READ_KEY = "fedcba9876543210fedcba9876543210"
_NODE_BAD = re.compile(r"[^\w\s.\-]", re.UNICODE)


def php_float(v):
    """PHP's (float) cast of a json_decode()d value."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if v is None:
        return 0.0
    m = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", str(v))
    return float(m.group(0)) if m else 0.0


def _depth(v):
    if isinstance(v, dict):
        return 1 + max([_depth(x) for x in v.values()] or [0])
    if isinstance(v, list):
        return 1 + max([_depth(x) for x in v] or [0])
    return 0


class FakeEmoncms:
    def __init__(self, apikey=WRITE_KEY, read_key=READ_KEY, prefix="", tls=False, port=0):
        self.apikeys = {apikey}
        self.read_keys = {read_key}
        self.prefix = prefix.rstrip("/")
        self.mode = "ok"
        self.delay = 30.0
        self.reply_delay = float(os.getenv("FAKE_EMONCMS_REPLY_DELAY") or 0)
        self.inputs = {}  # node -> {name: value}
        self.posts = []  # one dict per request
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.tls = tls
        self._tmp = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self)

            do_POST = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        if tls:
            self._wrap_tls()
        self.port = self.httpd.server_address[1]
        self.thread = None

    # -- lifecycle --
    def _wrap_tls(self):
        self._tmp = tempfile.mkdtemp(prefix="fake-emoncms-")
        crt = os.path.join(self._tmp, "c.pem")
        key = os.path.join(self._tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", crt],
                       check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, self.prefix)

    def set_mode(self, mode, delay=None):
        self.mode = mode
        if delay is not None:
            self.delay = delay

    def node(self, name):
        with self.lock:
            return dict(self.inputs.get(name, {}))

    def log(self):
        with self.lock:
            return list(self.posts)

    # -- request handling --
    def _record(self, **kw):
        kw["t"] = time.monotonic()
        with self.lock:
            self.posts.append(kw)
        return kw

    def _handle(self, h):
        mode = self.mode
        rec = self._record(path=h.path, mode=mode, peer=h.client_address[1], result=None)
        if mode == "close":
            h.close_connection = True
            rec["result"] = "closed"
            return
        if mode == "hang":
            # say nothing; note when the client gives up and closes its socket
            rec["result"] = "hung"
            conn = h.connection
            t_end = time.monotonic() + self.delay
            while time.monotonic() < t_end and not self.stopping.is_set():
                r, _, _ = select.select([conn], [], [], 0.05)
                if r:
                    try:
                        gone = conn.recv(1) == b""
                    except OSError:
                        gone = True
                    if gone:
                        rec["client_closed"] = time.monotonic()
                        break
            rec["t_end"] = time.monotonic()
            return
        if mode == "garbage":
            h.wfile.write(b"\x00\xff\xfeNOT HTTP AT ALL\r\n{\"success\": tr")
            rec["result"] = "garbage"
            return
        if mode == "flood":
            h.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            t_end = time.monotonic() + self.delay
            try:
                while time.monotonic() < t_end and not self.stopping.is_set():
                    h.wfile.write(b"x" * 4096)
            except OSError:
                pass
            rec["result"] = "flood"
            return
        if mode == "slow":
            self.stopping.wait(self.delay)
        if mode == "http500":
            return self._reply(h, rec, 500, "text/html", "<h1>Internal Server Error</h1>")
        self._emoncms(h, rec)

    def _reply(self, h, rec, code, ctype, body, headers=()):
        if self.reply_delay:
            self.stopping.wait(self.reply_delay)
        rec["result"] = (code, body)
        data = body.encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", ctype)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            rec["result"] = "client gone"

    def _emoncms(self, h, rec):
        u = urlsplit(h.path)
        path = u.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return self._reply(h, rec, 404, "text/html", "Not Found")
            path = path[len(self.prefix):]
        q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        rec["query"] = q
        apikey = q.get("apikey")
        if apikey:  # index.php: checked before routing
            if apikey not in self.apikeys and apikey not in self.read_keys:
                return self._reply(h, rec, 401, "text/plain", "Invalid API key", (
                    ("WWW-Authenticate", 'Bearer realm="API KEY", error="invalid_apikey", '
                                         'error_description="Invalid API key"'),))
        m = re.match(r"^/input/post(\.json)?(?:/([^/?]*))?/?$", path)
        if not m:
            return self._reply(h, rec, 406, "application/json", json.dumps(
                {"success": False, "message": "406 Not Acceptable. Route not found"}))
        if not apikey:
            return self._reply(h, rec, 200, "application/json", '"Authentication Required"')
        if apikey in self.read_keys:
            return self._reply(h, rec, 200, "text/plain", "")
        node = m.group(2) or q.get("node", "0")
        node = _NODE_BAD.sub("", node)
        rec["node"] = node
        full = "fulljson" in q
        if "json" in q:
            datain = q["json"]
        elif full:
            datain = q["fulljson"]
        else:
            datain = q.get("csv", q.get("data", ""))
        if datain == "":
            return self._fail(h, rec, "Request contains no data via csv, json or data tag")
        if full and "json" not in q:
            try:
                data = json.loads(datain)
            except ValueError:
                data = None
            if data is None or _depth(data) > 1:  # json_decode(..., true, 2)
                return self._fail(h, rec,
                                  "Error decoding JSON string (invalid or too deeply nested)")
            if isinstance(data, list):
                data = {str(i): v for i, v in enumerate(data)}
            if not isinstance(data, dict):
                return self._fail(h, rec, "Input must be a JSON object")
            values = {str(k): php_float(v) for k, v in data.items()}
        else:
            values = {}
            s = re.sub(r"[^\w\s.:,\-]", "", datain)
            csvi = 0
            for pair in s.split(","):
                kv = pair.split(":")
                if len(kv) > 1:
                    if kv[0] == "":
                        return self._fail(h, rec, "Format error, json key missing or invalid character")
                    try:
                        values[kv[0]] = float(kv[1])
                    except ValueError:
                        return self._fail(h, rec, "Format error, json value is not numeric")
                else:
                    try:
                        values[str(csvi + 1)] = float(kv[0])
                    except ValueError:
                        return self._fail(h, rec, "Format error: csv value is not numeric")
                    csvi += 1
        with self.lock:
            self.inputs.setdefault(node, {}).update(values)
        rec["values"] = values
        return self._reply(h, rec, 200, "text/plain", '{"success": true}' if full else "ok")

    def _fail(self, h, rec, msg):
        body = '{"success": false, "message": "%s"}' % msg.replace('"', "'")
        return self._reply(h, rec, 200, "text/plain", body)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="fake Emoncms input API")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--apikey", default=WRITE_KEY)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args(argv)
    f = FakeEmoncms(a.apikey, prefix=a.prefix, tls=a.tls, port=a.port).start()
    print("fake_emoncms: %s apikey %s" % (f.url, a.apikey), flush=True)
    try:
        while True:
            time.sleep(5)
            for node, vals in f.inputs.items():
                print(node, json.dumps(vals, sort_keys=True), flush=True)
    except KeyboardInterrupt:
        f.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
