# Safe mode: the gateway failed to boot several times in a row (startup.py counts). Nothing of
# the gateway runs, only the access point and one small page, with its own few lines of HTTP
# (the web server may be what fails): it shows why, and lets the user set the home network,
# reset the settings, or try a normal start again. The AP is the only network (no home
# network), so, as in the first setup, the page needs no login unless admin credentials are
# set. Imported only in safe mode.
import asyncio

import board
from compat import sleep_ms, wait_for_ms

AP_PASSWORD = "openevse"
_done = None


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def _page(fails, why, note, msg):
    return ("<!doctype html><meta name=viewport content='width=device-width'>"
            "<title>OpenEVSE safe mode</title><h2>OpenEVSE gateway: safe mode</h2>"
            "<p>The gateway failed to start %d times in a row. Last error:<pre>%s</pre>%s"
            "<p><b>%s</b>"
            "<form method=post action=/wifi><h3>Home network</h3>"
            "<input name=ssid placeholder=Network> <input name=pass type=password "
            "placeholder=Password> <button>Save and restart</button></form>"
            "<form method=post action=/restart><h3>Try again</h3>"
            "<button>Restart normally</button></form>"
            "<form method=post action=/reset><h3>Reset</h3>"
            "<button>Erase all settings and restart</button></form>") % (
        fails, _esc(why), ("<p>Settings: " + _esc(note)) if note else "", _esc(msg))


def _unquote(b):
    b = b.replace(b"+", b" ")
    out = bytearray()
    i = 0
    while i < len(b):
        if b[i] == 37 and i + 2 < len(b):  # %XX
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return out.decode()


def _form(body):
    """A urlencoded form (own few lines: safe mode does not lean on the web server)."""
    d = {}
    try:
        for part in body.split(b"&"):
            k, _, v = part.partition(b"=")
            d[_unquote(k)] = _unquote(v)
    except (UnicodeError, ValueError):
        return {}
    return d


def _auth_ok(cfg, head):
    user = cfg.get("www_username")
    pw = cfg.get("www_password")
    if not user and not pw:
        return True
    import binascii

    for line in head.split(b"\r\n"):
        if line[:14].lower() == b"authorization:":
            v = line[14:].strip()
            if v[:6].lower() == b"basic ":
                try:
                    return binascii.a2b_base64(v[6:]).decode() == user + ":" + pw
                except (ValueError, UnicodeError):
                    return False
    return False


async def _read(r):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = await r.read(256)
        if not d or len(buf) > 2048:
            raise EOFError()
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            n = min(int(line[15:]), 512)
    while len(body) < n:
        d = await r.read(n - len(body))
        if not d:
            break
        body += d
    return head, body


class _Safe:
    def __init__(self, fails, why, cfg):
        self.fails = fails
        self.why = why
        self.cfg = cfg
        self.msg = ""

    async def serve(self, r, w):
        try:
            head, body = await wait_for_ms(_read(r), 5000)
            line = head.split(b"\r\n", 1)[0].split(b" ")
            method, path = line[0], line[1] if len(line) > 1 else b"/"
            if not _auth_ok(self.cfg, head):
                out = "HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"openevse\"\r\n\r\n"
            else:
                if method == b"POST":
                    self.act(path, _form(body))
                out = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + _page(
                    self.fails, self.why, self.cfg.note, self.msg)
            w.write(out.encode())
            await wait_for_ms(w.drain(), 5000)
        except Exception as e:
            print("safemode: request failed", repr(e))
        finally:
            try:
                w.close()
                await w.wait_closed()  # MicroPython closes the socket here, not in close()
            except Exception:
                pass

    def act(self, path, form):
        import startup

        if path == b"/wifi":
            try:
                self.cfg.update({"ssid": form.get("ssid", ""), "pass": form.get("pass", "")})
            except ValueError as e:
                self.msg = "not saved: " + str(e)
                return
        elif path == b"/reset":
            import os

            for name in ("config.json", "config.good"):
                try:
                    os.remove(board.data_dir + "/" + name)
                except OSError:
                    pass
        elif path != b"/restart":
            return
        startup._bootmem(0)  # the next start is a normal one
        self.msg = "Restarting..."
        _done.set()


async def _main(fails, why):
    global _done
    _done = asyncio.Event()
    from config import Config

    cfg = Config(board.data_dir + "/config.json")
    try:
        cfg.load()
    except Exception as e:
        cfg.note = "could not be read: %r" % e
    sta, ap = board.wlan()
    try:
        sta.active(False)
    except OSError:
        pass
    ap.active(True)
    essid = cfg.get("ap_ssid") or "OpenEVSE_" + "".join(
        "%02x" % b for b in board.unique_id())[-4:]
    pw = cfg.get("ap_pass") or ""
    pw = pw if len(pw) >= 8 else AP_PASSWORD
    try:
        # WPA2-PSK: the port keeps the authmode it had (open by default) if only a password is set
        ap.config(essid=essid, password=pw, authmode=3)
    except (TypeError, ValueError, OSError):
        ap.config(essid=essid, password=pw)
    ip = getattr(board, "ap_ip", "192.168.4.1")
    safe = _Safe(fails, why, cfg)
    srv = await asyncio.start_server(safe.serve, "0.0.0.0", board.http_port)
    print("safemode: %d failed boots (%s); access point %s, page at http://%s:%d/" % (
        fails, why, essid, ip, board.http_port))
    while not _done.is_set():
        board.wdt_feed()
        await sleep_ms(500)
    await sleep_ms(500)  # the answer goes out
    srv.close()


def describe(e):
    """Prints the traceback; returns its last line and where it was raised, kept by startup.py
    for the safe-mode page ("OSError: [Errno 2] ENOENT (board.py:58 open_uart)")."""
    import io

    from compat import print_exception

    buf = io.StringIO()
    print_exception(e, buf)
    text = buf.getvalue()
    print(text)
    where = ""
    lines = text.strip().split("\n")
    for ln in lines:
        ln = ln.strip()
        if ln.startswith("File "):  # File "path", line N, in fn
            parts = ln.split(",")
            name = parts[0].split("/")[-1].strip('"')
            where = "%s:%s %s" % (name, parts[1].split()[-1], parts[-1].split()[-1])
    return lines[-1].strip() + (" (" + where + ")" if where else "")


def run(fails, why):
    """Serve the safe-mode page until the user asks for a restart; then return."""
    asyncio.run(_main(fails, why))
