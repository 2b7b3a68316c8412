# mDNS / DNS-SD responder so Home Assistant's zeroconf discovery finds the charger:
# _openevse._tcp and _http._tcp on the web port, TXT type/version/id, and <hostname>.local.
# build_response() is pure (tested under both interpreters); serve() polls a UDP socket.
import asyncio

from compat import sleep_ms

MDNS_ADDR = "224.0.0.251"
SERVICES = (b"_openevse._tcp.local", b"_http._tcp.local")
T_A, T_PTR, T_TXT, T_SRV, T_ANY = 1, 12, 16, 33, 255
TTL = 120


def _name(dotted):
    out = b""
    for label in dotted.split(b"."):
        out += bytes((len(label),)) + label
    return out + b"\x00"


def _read_name(pkt, i):
    """(lowercase dotted name, index after it) or (None, 0); follows compression pointers."""
    labels = []
    end = 0
    for _ in range(32):
        if i >= len(pkt):
            return None, 0
        n = pkt[i]
        if n & 0xC0 == 0xC0:
            if i + 1 >= len(pkt):
                return None, 0
            if not end:
                end = i + 2
            i = (n & 0x3F) << 8 | pkt[i + 1]
            continue
        if n == 0:
            return b".".join(labels).lower(), end or i + 1
        labels.append(bytes(pkt[i + 1 : i + 1 + n]))
        i += n + 1
    return None, 0


def _rr(name, rtype, rdata, flush=True):
    cls = 0x8001 if flush else 0x0001
    return _name(name) + bytes((rtype >> 8, rtype & 255, cls >> 8, cls & 255,
                                0, 0, TTL >> 8, TTL & 255, len(rdata) >> 8, len(rdata) & 255)) + rdata


def _txt(pairs):
    out = b""
    for k, v in pairs:
        item = k + b"=" + v
        out += bytes((len(item),)) + item
    return out


def build_response(pkt, info):
    """Answer for a query packet, or None. info: dict with hostname, ip, port, id, version,
    type (bytes/str/int). Legacy unicast queries (unicast=True) get the question echoed."""
    if len(pkt) < 12 or pkt[2] & 0x80 or (pkt[2] >> 3) & 0x0F:
        return None
    qd = pkt[4] << 8 | pkt[5]
    host = info["hostname"].encode()
    inst = host + b"._openevse._tcp.local"
    inst_http = host + b"._http._tcp.local"
    fqdn = host + b".local"
    ip = bytes(int(p) for p in info["ip"].split("."))
    port = info["port"]
    srv = bytes((0, 0, 0, 0, port >> 8, port & 255)) + _name(fqdn)
    txt = _txt(((b"type", info["type"].encode()), (b"version", info["version"].encode()),
                (b"id", info["id"].encode())))
    answers = []
    extra = []
    i = 12
    for _ in range(min(qd, 8)):
        q, i = _read_name(pkt, i)
        if q is None or i + 4 > len(pkt):
            return None
        qtype = pkt[i] << 8 | pkt[i + 1]
        i += 4
        for svc, name in ((SERVICES[0], inst), (SERVICES[1], inst_http)):
            if q == svc and qtype in (T_PTR, T_ANY):
                answers.append(_rr(svc, T_PTR, _name(name), False))
                extra += [_rr(name, T_SRV, srv), _rr(name, T_TXT, txt), _rr(fqdn, T_A, ip)]
            elif q == name.lower():
                if qtype in (T_SRV, T_ANY):
                    answers.append(_rr(name, T_SRV, srv))
                if qtype in (T_TXT, T_ANY):
                    answers.append(_rr(name, T_TXT, txt))
        if q == fqdn.lower() and qtype in (T_A, T_ANY):
            answers.append(_rr(fqdn, T_A, ip))
        if q == b"_services._dns-sd._udp.local" and qtype in (T_PTR, T_ANY):
            for svc in SERVICES:
                answers.append(_rr(q, T_PTR, _name(svc), False))
    if not answers:
        return None
    seen = []
    for r in extra:
        if r not in seen and r not in answers:
            seen.append(r)
    hdr = bytes((pkt[0], pkt[1], 0x84, 0, 0, 0, len(answers) >> 8, len(answers) & 255,
                 0, 0, len(seen) >> 8, len(seen) & 255))
    return hdr + b"".join(answers) + b"".join(seen)


RETRY_MS = 60000  # the port held by someone else: try again this often, quietly


def _open(port):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
    except OSError:
        s.close()
        raise
    return s


async def serve(gw, port=5353):
    """Answer mDNS queries until cancelled. Multicast replies for port-5353 senders, unicast
    replies (legacy queries, e.g. from tools) otherwise. When the port is held by another
    responder without address reuse (the ESP32 port's own, once WiFi is up), this waits and
    tries again: said once in the log, never a crash loop."""
    import socket

    said = False
    while True:
        try:
            s = _open(port)
            break
        except OSError as e:
            if not said:
                print("mdns: UDP %d is taken (%r); trying again every %d s" % (
                    port, e, RETRY_MS // 1000))
                said = True
            await sleep_ms(RETRY_MS)
    if getattr(gw.board, "mdns_multicast", True):
        try:
            mreq = bytes(int(p) for p in MDNS_ADDR.split(".")) + bytes(4)
            # IPPROTO_IP is 0 on lwIP and Linux; some ports lack the name
            s.setsockopt(getattr(socket, "IPPROTO_IP", 0), socket.IP_ADD_MEMBERSHIP, mreq)
        except (AttributeError, OSError) as e:
            print("mdns: could not join the multicast group (%r): answering direct queries only" % e)
    else:
        # the PC: nothing leaves 127.0.0.0/8, so no multicast group (docs/wifi.md)
        print("mdns: UDP %d, direct queries only (no multicast on the PC)" % port)
    s.setblocking(False)
    group = socket.getaddrinfo(MDNS_ADDR, 5353)[0][-1]
    try:
        while True:
            try:
                pkt, addr = s.recvfrom(512)
            except OSError:
                await sleep_ms(100)
                continue
            w = gw.wifi
            info = {"hostname": gw.config.get("hostname"), "ip": w.ip if w else "0.0.0.0",
                    "port": gw.board.http_port, "id": gw.serial,
                    "version": getattr(gw, "build", gw.version), "type": gw.board.BUILDENV}
            try:
                rep = build_response(pkt, info)
            except (ValueError, IndexError):
                rep = None
            if rep:
                # the ESP32 gives (ip, port); the unix port a raw sockaddr (port in bytes 2-3)
                sport = addr[1] if isinstance(addr, tuple) else addr[2] << 8 | addr[3]
                unicast = sport != 5353
                try:
                    s.sendto(rep, addr if unicast else group)
                except OSError:
                    pass
            await asyncio.sleep(0)
    finally:
        s.close()
