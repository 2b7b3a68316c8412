# net/wifi_ops.py: the WiFi manager's rare jobs (start a join, give up, retry, open and close
# the access point, scan). net/wifi.py imports this module for one job and drops it after, so
# its code is not resident. Every function takes the manager `m` (net.wifi.WifiManager).
AP_PASSWORD = "openevse"
MAX_NETS = 20  # networks kept from a scan (a block of flats shows 40 and more)


def _log(*a):
    print("wifi:", *a)


def hostname(m):
    """network.hostname() from the setting. Set before connect(): the driver copies it to
    the netif there (DHCP), and the chip's mDNS responder takes it at the first IP."""
    name = m.gw.config.get("hostname")
    fn = getattr(m.gw.board, "hostname", None)
    if name and fn is not None:
        try:
            fn(name)
        except (ValueError, OSError) as e:
            _log("hostname not set:", repr(e))


def _disconnect(m):
    # After connect() the driver retries on every disconnect until disconnect() is called; a
    # connect() meanwhile raises "Wifi Internal Error". So: always disconnect first.
    try:
        m.sta.disconnect()
    except OSError:
        pass  # the radio is not started: nothing to stop


def _connect(m, now):
    cfg = m.gw.config
    m.ssid = cfg.get("ssid")
    _disconnect(m)
    m.sta.connect(m.ssid, cfg.get("pass"))
    m.shown = None
    m.set("connecting", now + m.t["join"])


def start(m, now, sta_up):
    """New settings (or the first pass): join the configured network, or open the setup AP."""
    hostname(m)
    m.sta.active(True)
    ssid = m.gw.config.get("ssid")
    m.fails = 0
    if not ssid:
        _disconnect(m)
        m.ssid = ""
        open_ap(m)
        m.set("setup", 0, "")
        return
    if m.state == "start" and sta_up and m.sta.config("essid") == ssid:
        m.ssid = ssid  # a soft reset keeps the radio joined: adopt the link
        joined(m, now)
        return
    _log("joining", ssid)
    m.error = ""
    _connect(m, now)


def joined(m, now):
    m.sta_ip = m.sta.ifconfig()[0]
    m.fails = 0
    m.error = ""
    _log("joined", m.ssid, "ip", m.sta_ip)
    if m.ap.active() and not m.ap_forced:
        m.shown = None
        m.set("joined", now + m.t["handover"])  # the AP stays until the phone knows the address
    else:
        m.set("connected")


def failed(m, now, err):
    _disconnect(m)  # stop the driver's own retries; ours come with a backoff
    m.fails += 1
    if err == "timeout" and m.nets:
        for n in m.nets:
            if n[0] == m.ssid:
                err = "timeout: the network is in range, check the password"
                break
    wait = min(m.t["retry"] << min(m.fails - 1, 10), m.t["retry_max"])
    _log("could not join", m.ssid, "-", err, "- retry in %d s" % (wait // 1000))
    open_ap(m)
    m.set("failed", now + wait, err)


def retry(m, now):
    _log("retrying", m.ssid)
    _connect(m, now)


def open_ap(m):
    if m.ap.active():
        return
    m.ap.active(True)
    cfg = m.gw.config
    essid = cfg.get("ap_ssid") or "OpenEVSE_" + m.gw.serial[-4:].lower()
    pw = cfg.get("ap_pass") or ""
    if len(pw) < 8:  # WPA2 needs 8 characters (the C++ gateway's rule)
        pw = AP_PASSWORD
    try:
        m.ap.config(essid=essid, password=pw, authmode=3)  # WPA2-PSK
    except (TypeError, ValueError, OSError):
        m.ap.config(essid=essid, password=pw)
    _log("access point", essid, "at", m.ap_ip)


def close_ap(m):
    if m.ap.active():
        m.ap.active(False)
        _log("access point closed")
    m.shown = None


def request_mode(m, mode):
    if mode in ("00", "02"):
        m.ap_forced = True
        open_ap(m)
    elif mode == "01":
        m.ap_forced = False
        if m.sta.isconnected():
            close_ap(m)


def scan(m, now):
    """Blocks for the driver's scan. When the driver is reconnecting by itself (link lost) it
    would answer [] (it refuses to scan while connecting): stop it, scan, retry at once."""
    sta = m.sta
    sta.active(True)
    resume = m.state == "lost"
    if resume:
        _disconnect(m)
    try:
        res = sta.scan()
    except OSError as e:
        _log("scan failed:", repr(e))
        res = ()
    best = {}
    for r in res:
        try:
            name = r[0].decode()
        except UnicodeError:
            continue
        if name and (name not in best or best[name][1] < r[3]):
            best[name] = (name, r[3], r[4] != 0, r[2])
    res = None
    nets = sorted(best.values(), key=lambda n: -n[1])[:MAX_NETS]
    if nets:
        m.nets = nets
        m.scan_at = now
    elif m.nets is None:
        m.nets = []
    if resume:
        m.set("failed", now, m.error or "link lost")
