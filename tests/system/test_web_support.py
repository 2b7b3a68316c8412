"""Helpers for the web system tests (no tests in here): a minimal RFC 6455 client, a
Chrome DevTools Protocol driver for headless Chromium, and a launcher for the real
firmware under the MicroPython unix port with the virtual EVSE."""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Rig  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class WsClient:
    """Blocking WebSocket client (text frames, fragmented messages, pings)."""

    def __init__(self, url, headers=None, timeout=10):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, port, key)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            d = self.sock.recv(1)
            if not d:
                raise ConnectionError("closed during handshake: %r" % resp)
            resp += d
        self.status = int(resp.split(b" ", 2)[1])
        if self.status != 101:
            raise ConnectionError("handshake failed: %r" % resp)

    def _recvn(self, n):
        buf = b""
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise ConnectionError("closed")
            buf += d
        return buf

    def send(self, data, opcode=1):
        if isinstance(data, str):
            data = data.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv_frame(self):
        b0, b1 = self._recvn(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recvn(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recvn(8))[0]
        if b1 & 0x80:
            mask = self._recvn(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._recvn(n)))
        else:
            data = self._recvn(n)
        return b0 & 0x80, b0 & 0x0F, data

    def recv(self):
        """Next text/binary message (control frames: ping answered, close raises)."""
        parts, op0 = [], None
        while True:
            fin, op, data = self.recv_frame()
            if op == 9:
                self.send(data, 10)
                continue
            if op == 10:
                continue
            if op == 8:
                raise ConnectionError("closed by server")
            if op != 0:
                op0 = op
            parts.append(data)
            if fin:
                d = b"".join(parts)
                return d.decode() if op0 == 1 else d

    def close(self):
        try:
            self.send(b"", 8)
        except OSError:
            pass
        self.sock.close()


class Browser:
    """Headless Chromium driven over the DevTools Protocol."""

    def __init__(self, width=390, height=844):
        self.tmp = tempfile.mkdtemp(prefix="cdp-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
             "--user-data-dir=" + self.tmp, "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        t0 = time.time()
        while time.time() - t0 < 30:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
                break
            if not line and self.proc.poll() is not None:
                break
        if not url:
            self.quit()
            raise RuntimeError("chromium did not start")
        port = int(re.match(r"ws://[^:]+:(\d+)/", url).group(1))
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.ws = WsClient(pages[0]["webSocketDebuggerUrl"], timeout=60)
        self.n = 0
        self.size = (width, height)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  width=width, height=height, deviceScaleFactor=1, mobile=True)
        self.call("Emulation.setTouchEmulationEnabled", enabled=True)
        self.call("Page.addScriptToEvaluateOnNewDocument", source="window.confirm=function(){return true}")
        self.console = []

    def call(self, method, **params):
        self.n += 1
        mid = self.n
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if m.get("method") == "Runtime.exceptionThrown":
                d = m["params"]["exceptionDetails"]
                self.console.append("%s %s (line %s)" % (d.get("text"), d.get("exception", {}).get(
                    "description", ""), d.get("lineNumber")))

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("js error in %r: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'")

    def wait(self, expr, timeout=15):
        t0 = time.time()
        last = None
        while time.time() - t0 < timeout:
            try:
                last = self.js(expr)
                if last:
                    return last
            except RuntimeError as e:
                last = e
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s (last %r)" % (expr, last))

    def text(self, sel):
        return self.js("document.querySelector(%s).textContent" % json.dumps(sel))

    def click(self, sel):
        self.js("document.querySelector(%s).click()" % json.dumps(sel))

    def fill(self, sel, value):
        self.js("(function(e){e.focus();e.value=%s;e.dispatchEvent(new Event('input',{bubbles:true}));"
                "e.dispatchEvent(new Event('change',{bubbles:true}));e.blur()})(document.querySelector(%s))"
                % (json.dumps(value), json.dumps(sel)))

    def screenshot(self, path):
        # grow the viewport to the whole page so the fixed bottom bar sits at the bottom
        h = self.js("Math.max(document.documentElement.scrollHeight, innerHeight)")
        self.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=h,
                  deviceScaleFactor=1, mobile=True)
        time.sleep(0.3)
        r = self.call("Page.captureScreenshot", format="png")
        self.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1],
                  deviceScaleFactor=1, mobile=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def quit(self):
        try:
            self.ws.sock.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON or text)."""
    data = None
    h = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else (
            body.encode() if isinstance(body, str) else body)
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode("utf-8", "replace")


class Firmware(Rig):
    """The real firmware (firmware/main.py) under MicroPython with the virtual EVSE on a
    pty (the harness Rig), plus the web tests' vocabulary."""

    def __init__(self, ev=False, config=None, wlan=None):
        Rig.__init__(self, config=config, sim_kwargs={"ev_connected": ev}, wlan=wlan)
        self.base = self.url
        self.wait_connected(20)

    def restart(self):
        """Ask the gateway to restart (it exits 3 like machine.reset()) and boot it again."""
        http("POST", self.base + "/restart", {"device": "gateway"})
        rc = self.fw.wait(15)
        assert rc == 3, rc
        self.stop_firmware()
        self.start_firmware()
        self.wait_connected(20)

    def sim_state(self):
        return self.evse()

    def stop(self):
        self.close()
