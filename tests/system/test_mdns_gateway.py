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


def test_zeroconf_service_record_has_the_serial(rig):
    port = int(rig.extra_env["MDNS_PORT"])
    r = wait_for(lambda: _ask(port, b"_openevse._tcp.local", mdns.T_PTR), 5, what="mDNS answer")
    serial = rig.get("/config")[1]["wifi_serial"]
    assert b"id=" + serial.encode() in r
    assert b"\t_openevse\x04_tcp\x05local" in r
    # the SRV record points at the web server's port
    assert rig.http_port.to_bytes(2, "big") in r


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
