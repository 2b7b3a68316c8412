"""The firmware answers DNS-SD queries for _openevse._tcp (Home Assistant's zeroconf
discovery needs the TXT id) over real UDP; a port held by another responder (the ESP32 port's
own holds 5353 without address reuse) is waited for, never a crash loop."""
import os
import socket
import sys

from harness import ROOT, free_port, wait_for

sys.path.insert(0, os.path.join(ROOT, "firmware"))
from net import mdns  # noqa: E402  (the firmware's own pure codec, used to build and read packets)


def _ask(port, name, qtype):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        q = bytes((0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)) + mdns._name(name) + bytes((0, qtype, 0, 1))
        s.sendto(q, ("127.0.0.1", port))
        return s.recvfrom(1500)[0]
    except OSError:
        return None
    finally:
        s.close()


def _records(pkt):
    """[(name, type, rdata, offset of rdata)] of every resource record in a DNS reply
    (RFC 1035 4.1)."""
    qd, an, ns, ar = (int.from_bytes(pkt[i:i + 2], "big") for i in (4, 6, 8, 10))
    i = 12
    for _ in range(qd):
        _, i = mdns._read_name(pkt, i)
        i += 4
    out = []
    for _ in range(an + ns + ar):
        name, i = mdns._read_name(pkt, i)
        rtype = int.from_bytes(pkt[i:i + 2], "big")
        n = int.from_bytes(pkt[i + 8:i + 10], "big")
        out.append((name, rtype, pkt[i + 10:i + 10 + n], i + 10))
        i += 10 + n
    assert i == len(pkt), "trailing bytes"
    return out


def test_zeroconf_service_record_has_the_serial(rig):
    port = int(rig.extra_env["MDNS_PORT"])
    r = wait_for(lambda: _ask(port, b"_openevse._tcp.local", mdns.T_PTR), 5, what="mDNS answer")
    serial = rig.get("/config")[1]["wifi_serial"]
    recs = _records(r)
    ptr = [o for n, t, d, o in recs if n == b"_openevse._tcp.local" and t == mdns.T_PTR]
    assert len(ptr) == 1
    inst, _ = mdns._read_name(r, ptr[0])  # the instance the PTR names
    assert inst.endswith(b"._openevse._tcp.local")
    txt = [d for n, t, d, o in recs if n == inst and t == mdns.T_TXT]
    srv = [d for n, t, d, o in recs if n == inst and t == mdns.T_SRV]
    assert len(txt) == 1 and len(srv) == 1
    strings, i = [], 0
    while i < len(txt[0]):
        strings.append(txt[0][i + 1:i + 1 + txt[0][i]])
        i += 1 + txt[0][i]
    assert b"id=" + serial.encode() in strings, strings
    # the SRV record (priority, weight, port, target) points at the web server's port
    assert int.from_bytes(srv[0][4:6], "big") == rig.http_port


def test_port_held_by_another_responder_is_no_crash_loop(rig_factory):
    port = free_port(socket.SOCK_DGRAM)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR, as the chip's
    other.bind(("0.0.0.0", port))
    try:
        r = rig_factory(env={"MDNS_PORT": str(port)})
        r.wait_connected()
        wait_for(lambda: "mdns: UDP %d is taken" % port in r.log(), 5, what="said once")
        r.get("/status")
        log = r.log()
        assert log.count("is taken") == 1 and "task mdns" not in log, log
        assert _ask(port, b"_openevse._tcp.local", mdns.T_PTR) is None  # the other one's port
    finally:
        other.close()
