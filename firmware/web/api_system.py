# web/api_system.py: RAPI pass-through (/r), restart, factory reset, Emoncms describe, the
# firmware update (/update, ota.py).
# Used rarely: web/app.py imports it per request and drops it after.
TEXT = {"Content-Type": "text/plain"}
HTML = {"Content-Type": "text/html"}
CONFIRM = "RAPI_RESPONSE_CONFIRM"
_FORM = ("<html><form method='post' action='r'><input type='text' name='rapi' size='32'>"
         "<input type='hidden' name='json' value='0' disabled><p><input type='submit' "
         "value='RAPI Command'></form>")
_TAIL = ("<script type='text/javascript'>document.getElementsByName('rapi')[0].focus()"
         "</script><p></html>\r\n\r\n")


def _html_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace("'", "&#39;").replace('"', "&quot;")


def rapi_cmd(raw):
    """Normalise a RAPI command from a client: leading $ added, ^xx checksum stripped."""
    cmd = raw.strip()
    i = cmd.find("^")
    if i >= 0:
        cmd = cmd[:i].rstrip()
    if cmd and cmd[0] != "$":
        cmd = "$" + cmd
    return cmd


async def rapi(app, req):
    p = req.params()
    as_json = "json" in p and p["json"] != "0"
    raw = p.get("rapi", "")
    if not raw:
        if as_json:
            return {"cmd": "", "error": "RAPI_RESPONSE_NO_COMMAND"}, 400
        return _FORM + "</html>\r\n\r\n", 200, HTML
    cmd = rapi_cmd(raw)
    gw = app.gw
    msg = None
    if req.method == "GET" and gw.rapi_allowed(cmd) and not gw.rapi_allowed(cmd, False):
        # what only developer mode allows changes the controller: a link or an <img> on some
        # page must not be able to send it (a POST also carries the page's Origin)
        ok, reply, code, msg = False, "RAPI_RESPONSE_BLOCKED", 405, "use POST"
    else:
        ok, reply = await gw.rapi_passthrough(cmd, p.get("confirm") == "1")
        # a command that may not or cannot be sent is the client's error; 500 is kept for
        # a controller that did not answer (RAPI_RESPONSE_TIMEOUT, as the C++ gateway)
        code = 200 if ok else (500 if reply == "RAPI_RESPONSE_TIMEOUT" else 400)
        if reply == CONFIRM:
            msg = "this switches off a safety check of the charger: send again with confirm=1"
    if as_json:
        d = {"cmd": raw, "ret": reply} if ok else {"cmd": raw, "error": reply}
        if msg:
            d["msg"] = msg
        return d, code
    body = _FORM + "<p>RAPI Command Sent: " + _html_escape(raw) + "<p>&gt;"
    body += _html_escape(reply) if ok else "<p><strong>Error:</strong>" + reply + " " + (msg or "")
    return body + _TAIL, code, HTML


async def restart(app, req):
    if req.method == "GET":
        if not req.header("x-requested-with"):
            return "", 403
        app.later(app.gw.restart, "gateway")
        return "1", 200, TEXT
    d = req.json()
    if not isinstance(d, dict) or "device" not in d:
        return {"msg": "wrong payload"}, 400
    dev = d["device"]
    if dev not in ("gateway", "evse"):
        return {"msg": "unknown device"}, 404
    app.later(app.gw.restart, dev)
    return {"msg": "restart " + dev}


async def reset(app, req):
    # both methods: a factory reset drops the admin login, and no API client resets
    if not req.header("x-requested-with"):
        return "", 403
    app.later(app.gw.factory_reset)
    return "1", 200, TEXT


async def emoncms_describe(app, req):
    return "openevse", 200, {"Content-Type": "text/plain", "Access-Control-Allow-Origin": "*"}


_UPLOAD = ("<html><form method='POST' action='/update' enctype='multipart/form-data'>"
           "<input type='file' name='firmware'> <input type='submit' value='Update'></form></html>")


async def update_form(app, req):
    # the C++ gateway's minimal upload page (GET /update)
    return _UPLOAD, 200, HTML


async def update(app, req):
    # the C++ gateway's POST /update: multipart, one file part; text "OK" then a restart
    from compat import drop

    try:
        import ota

        return await ota.receive(app.gw, req)
    finally:
        drop("ota")
        drop("esp32")  # the PC's model of it (startup._ota)
