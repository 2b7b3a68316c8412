# web/app.py: the OpenEVSE-compatible HTTP + WebSocket API and the web UI.
#
# A route table maps (method, path) to a handler in one of the web/api_*.py modules, grouped
# by concern; a module is imported when one of its routes is first requested. The settings
# and system groups are used rarely (a few requests a day), so they are dropped again after
# each request: their code does not sit in the ESP32's heap. The handlers only translate
# HTTP to calls on the Gateway container `gw`; auth and the captive portal live here.
#
# Who is asking decides two things, read per request from the socket and the radio (never from
# a remembered mode): a client on our access point (its address in the AP's /24) while the
# gateway has no home network is the first setup, answered without HTTP auth; only such a
# client is ever redirected to the portal, and only to the AP address the board reports.
import binascii
import sys

from compat import sleep_ms
from web.server import File, Server, json_type

try:
    _HERE = __file__.rsplit("/", 1)[0]
except NameError:  # frozen: no __file__
    _HERE = "web"
MASK = "_DUMMY_PASSWORD"
# (method, path, module, handler). A path ending in "#" takes an integer ("/claims/20").
ROUTES = (
    ("GET", "/status", "status", "status_get"),
    ("POST", "/status", "status", "status_post"),
    ("GET", "/ws", "status", "ws"),
    ("GET", "/override", "control", "override_get"),
    ("POST", "/override", "control", "override_post"),
    ("PATCH", "/override", "control", "override_patch"),
    ("DELETE", "/override", "control", "override_delete"),
    ("GET", "/claims", "control", "claims_list"),
    ("GET", "/claims/target", "control", "claims_target"),
    ("GET", "/claims/#", "control", "claim_get"),
    ("POST", "/claims/#", "control", "claim_post"),
    ("DELETE", "/claims/#", "control", "claim_delete"),
    ("GET", "/divertmode", "control", "divertmode"),
    ("POST", "/divertmode", "control", "divertmode"),
    ("GET", "/shaper", "control", "shaper"),
    ("POST", "/shaper", "control", "shaper"),
    ("GET", "/limit", "control", "limit_get"),
    ("POST", "/limit", "control", "limit_post"),
    ("DELETE", "/limit", "control", "limit_delete"),
    ("GET", "/config", "settings", "config_get"),
    ("POST", "/config", "settings", "config_post"),
    ("GET", "/savenetwork", "settings", "save_network"),
    ("POST", "/savenetwork", "settings", "save_network"),
    ("GET", "/scan", "settings", "scan"),
    ("GET", "/r", "system", "rapi"),
    ("POST", "/r", "system", "rapi"),
    ("GET", "/rapi", "system", "rapi"),
    ("POST", "/rapi", "system", "rapi"),
    ("GET", "/restart", "system", "restart"),
    ("POST", "/restart", "system", "restart"),
    ("GET", "/reset", "system", "reset"),
    ("POST", "/reset", "system", "reset"),
    ("GET", "/emoncms/describe", "system", "emoncms_describe"),
    ("GET", "/update", "system", "update_form"),
    ("POST", "/update", "system", "update"),
    ("GET", "/time", "time", "time_get"),
    ("POST", "/time", "time", "time_post"),
    ("POST", "/settime", "time", "time_post"),
    ("GET", "/schedule", "sched", "sched_get"),
    ("POST", "/schedule", "sched", "sched_post"),
    ("GET", "/schedule/plan", "sched", "sched_plan"),
    ("GET", "/schedule/#", "sched", "sched_get"),
    ("POST", "/schedule/#", "sched", "sched_post"),
    ("DELETE", "/schedule/#", "sched", "sched_delete"),
    ("GET", "/logs", "logs", "logs_get"),
    ("GET", "/logs/#", "logs", "logs_get"),
    ("GET", "/emeter", "logs", "emeter_get"),
    ("DELETE", "/emeter", "logs", "emeter_delete"),
)
COLD = ("settings", "system", "time", "sched", "logs")  # imported per request, then dropped
# GET routes that act (or open the live socket): no page of another site may call them
ACTING_GETS = ("/divertmode", "/shaper", "/savenetwork", "/restart", "/reset", "/r", "/rapi", "/ws")
# what phones and laptops fetch to find out whether they are behind a captive portal
PROBES = ("/generate_204", "/gen_204", "/hotspot-detect.html", "/library/test/success.html",
          "/connecttest.txt", "/ncsi.txt", "/redirect", "/canonical.html", "/success.txt")


def _eq(a, b):
    # compares every character, so the time taken does not tell how much matched
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= ord(a[i]) ^ ord(b[i])
    return r == 0


def match(method, path):
    """(module, handler, int argument or None) for a request, "405" when the path exists
    with other methods only, None when it does not exist."""
    other = False
    for m, p, mod, fn in ROUTES:
        arg = None
        if p[-1] == "#":
            n = len(p) - 1
            if path[:n] != p[:-1]:
                continue
            v = path[n:]
            d = v[1:] if v[:1] == "-" else v
            if not d or not d.isdigit():
                continue
            arg = int(v)
        elif p != path:
            continue
        if m == method:
            return mod, fn, arg
        other = True
    return "405" if other else None


_DENIED = ('<!doctype html><meta name="viewport" content="width=device-width">'
           '<title>Login needed</title><body style="font:16px system-ui,sans-serif;'
           'max-width:30em;margin:2em auto;padding:0 1em;color:#111827;background:#fff">'
           '<h1>Login needed</h1><p>This charger asks for the user name and password set on '
           'its Login settings page.</p><p><a href="/" style="display:inline-block;padding:14px 20px;'
           'background:#15803d;color:#fff;border-radius:10px;text-decoration:none">Try again</a>'
           '</p><p>Forgotten? Over USB, <code>mpremote rm :/data/config.json + rm :/data/config.good + reset</code> '
           'clears the settings; the charger then opens its own access point for setup, with no login.</p>')

class App:
    """The web application over a Gateway. max_conn: requests served at once; max_ws:
    WebSocket clients (a newcomer replaces the least recently active one)."""

    def __init__(self, gw, static_dir=None, max_conn=4, max_ws=2):
        board = getattr(gw, "board", None)
        self.gw = gw
        self.ap_ip = getattr(board, "ap_ip", "192.168.4.1")
        port = getattr(board, "http_port", 80)
        self.portal = "http://%s%s/" % (self.ap_ip, "" if port == 80 else ":%d" % port)
        self.static = static_dir or getattr(board, "static_dir", None) or _HERE + "/static"
        self.max_ws = max_ws
        self.peers = []  # open WebSockets (web/api_status.py)
        self.restart_delay_ms = 500
        self.server = Server(self, max_conn)

    def cfg(self, key, default=None):
        try:
            v = self.gw.config.get(key)
        except KeyError:
            v = None
        return default if v is None else v

    def via_ap(self, req):
        """The client is a station on our access point (its address is in the AP's /24)."""
        ip = getattr(req, "peer", None)
        if ip is None:
            ip = req.peer = peer_ip(req.writer)
        return bool(ip) and ip[:ip.rfind(".")] == self.ap_ip[:self.ap_ip.rfind(".")]

    def setup_open(self, req):
        """First setup: the request came over the AP while the gateway has no home network
        (asked of the radio now). Never true for a client on the home network."""
        w = getattr(self.gw, "wifi", None)
        return w is not None and self.via_ap(req) and w.setup_open()

    def ap_peers(self):
        """Some open WebSocket came over the AP (it is pushed every status change)."""
        for p in self.peers:
            if getattr(p, "ap", False):
                return True
        return False

    def later(self, fn, *args):
        """Run fn(*args) after restart_delay_ms, once the reply has gone out."""
        import asyncio

        async def run():
            await sleep_ms(self.restart_delay_ms)
            r = fn(*args)
            if hasattr(r, "send"):
                await r

        asyncio.create_task(run())

    async def run(self, host, port):
        await self.server.run(host, port)

    # ---------------------------------------------------------------- dispatch
    async def handle(self, req):
        r = self.captive(req)
        if r is not None:
            return r
        denied = self.check_auth(req) or self.check_site(req)
        if denied is not None:
            return denied
        m = match(req.method, req.path)
        if m is None:
            return self.not_found(req)
        if m == "405":
            return {"msg": "method not allowed"}, 405
        mod, fn, req.arg = m
        if mod == "status" and req.method == "GET":
            w = getattr(self.gw, "wifi", None)
            if w is not None and getattr(w, "state", "") == "joined" and self.via_ap(req):
                w.address_shown()  # the phone on the AP gets the new address in this answer
        name = "web.api_" + mod
        try:
            h = getattr(__import__(name, None, None, (fn,)), fn)
            return await h(self, req)
        except Exception as e:
            print("web: %s %s failed: %r" % (req.method, req.path, e))
            return {"msg": "internal error"}, 500
        finally:
            if mod in COLD:
                self._drop(name)

    @staticmethod
    def _drop(name):
        sys.modules.pop(name, None)
        pkg = sys.modules.get("web")
        short = name[4:]
        if pkg is not None and hasattr(pkg, short):
            delattr(pkg, short)

    def check_auth(self, req):
        """None when the request may proceed, else the 401 response."""
        if req.path == "/emoncms/describe":
            return None
        user = self.cfg("www_username", "")
        pw = self.cfg("www_password", "")
        if not user and not pw:
            return None
        if self.setup_open(req):  # first setup over the AP: no home network, no auth yet
            return None
        h = req.header("authorization")
        if h[:6].lower() == "basic ":
            try:
                u, _, p = binascii.a2b_base64(h[6:].strip()).decode().partition(":")
                ok_u = _eq(u, user)
                ok_p = _eq(p, pw)
                if ok_u and ok_p:
                    return None
            except (ValueError, UnicodeError):
                pass
        if req.header("x-requested-with") == "OpenEVSE":
            return {"msg": "auth"}, 401
        realm = self.cfg("hostname", "openevse")
        # a browser shows this page when the login prompt is cancelled or fails
        return _DENIED, 401, {"WWW-Authenticate": 'Basic realm="%s"' % realm,
                              "Content-Type": "text/html; charset=UTF-8"}

    def check_site(self, req):
        """None when the request may go on, else the refusal. A web page can make the
        visitor's browser send forms and simple requests to any address on the home network
        (cross-site request forgery); the browser then names the page's site in Origin or
        Referer ("null" for a sandboxed page) and says cross-site in Sec-Fetch-Site. HA,
        evcc, Node-RED and curl send none of these, so they pass. A page can also post JSON
        as text/plain without asking the server first, so JSON is taken only as
        application/json, which a page may send only after a CORS preflight (OPTIONS: 405)."""
        if req.method == "GET" and req.path not in ACTING_GETS:
            return None  # reads: another site's page cannot read the answer
        h = req.header
        u = h("origin") or h("referer")
        i = u.find("//")
        if h("sec-fetch-site") == "cross-site" or \
                (u and (i < 0 or u[i + 2:].split("/", 1)[0].lower() != h("host").lower())):
            return {"msg": "cross-site request refused"}, 403
        if req.body.lstrip()[:1] in (b"{", b"[") and not json_type(h("content-type")):
            return {"msg": "JSON needs Content-Type: application/json"}, 415
        return None

    # ---------------------------------------------------------------- UI and captive portal
    def index(self):
        return File(self.static + "/index.html", gz=True)

    def own_host(self, host):
        if host == self.ap_ip:
            return True
        w = getattr(self.gw, "wifi", None)
        if w is not None and host == getattr(w, "sta_ip", None):
            return True
        name = self.cfg("hostname", "openevse").lower()
        return host == name or host == name + ".local"

    def captive(self, req):
        """302 to the portal for a GET from a station on our AP while the AP is up, when it
        is an OS captive probe or names a host that is not this gateway; else None."""
        if req.method != "GET":
            return None
        w = getattr(self.gw, "wifi", None)
        if w is None or not self.via_ap(req) or not w.ap.active():
            return None
        host = req.header("host").split(":")[0].lower()
        if req.path in PROBES or (host and not self.own_host(host)):
            return "", 302, {"Location": self.portal}
        return None

    def not_found(self, req):
        if req.method == "GET" and req.path in ("/", "/index.html"):
            return self.index()
        return {"msg": "not found"}, 404


def peer_ip(writer):
    """The client's IPv4 address as text, "" when unknown: the ESP32 port gives (ip, port),
    the unix port a raw sockaddr_in (address in bytes 4-7)."""
    try:
        a = writer.get_extra_info("peername")
    except (AttributeError, KeyError, TypeError):
        return ""
    if isinstance(a, tuple):
        return a[0]
    if isinstance(a, (bytes, bytearray)) and len(a) >= 8:
        return "%d.%d.%d.%d" % (a[4], a[5], a[6], a[7])
    return ""


def create_app(gw, static_dir=None):
    board = getattr(gw, "board", None)
    return App(gw, static_dir, getattr(board, "max_http", 4), getattr(board, "max_ws", 2))
