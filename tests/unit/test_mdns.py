# mDNS / DNS-SD answers (pure). Runs under both interpreters.
from net import mdns

INFO = {"hostname": "openevse-e5f6", "ip": "192.168.1.50", "port": 80, "id": "A1B2C3D4E5F6",
        "version": "5.1.0", "type": "micropython_esp32"}


def _query(name, qtype, qid=0):
    return bytes((qid >> 8, qid & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)) + mdns._name(name) + \
        bytes((0, qtype, 0, 1))


def _records(pkt):
    """[(name, type, rdata_offset, rdlength)] of every answer and additional record."""
    n = (pkt[6] << 8 | pkt[7]) + (pkt[10] << 8 | pkt[11])
    i = 12
    out = []
    for _ in range(n):
        name, i = mdns._read_name(pkt, i)
        rtype = pkt[i] << 8 | pkt[i + 1]
        rdlen = pkt[i + 8] << 8 | pkt[i + 9]
        out.append((name, rtype, i + 10, rdlen))
        i += 10 + rdlen
    return out


def test_openevse_service_browse_gives_ptr_srv_txt_a():
    r = mdns.build_response(_query(b"_openevse._tcp.local", mdns.T_PTR), INFO)
    recs = _records(r)
    kinds = [(n, t) for n, t, _, _ in recs]
    inst = b"openevse-e5f6._openevse._tcp.local"
    assert (b"_openevse._tcp.local", mdns.T_PTR) in kinds
    assert (inst, mdns.T_SRV) in kinds and (inst, mdns.T_TXT) in kinds
    assert (b"openevse-e5f6.local", mdns.T_A) in kinds
    for n, t, off, ln in recs:
        if t == mdns.T_TXT:
            txt = r[off : off + ln]
            assert b"id=A1B2C3D4E5F6" in txt and b"version=5.1.0" in txt and b"type=micropython_esp32" in txt
        if t == mdns.T_SRV:
            assert r[off + 4] << 8 | r[off + 5] == 80
        if t == mdns.T_A:
            assert r[off : off + 4] == bytes((192, 168, 1, 50))


def test_host_a_query_and_case_insensitivity():
    r = mdns.build_response(_query(b"OpenEVSE-E5F6.local", mdns.T_A, 7), INFO)
    assert r[:2] == b"\x00\x07" and r[2] == 0x84
    assert [(n, t) for n, t, _, _ in _records(r)] == [(b"openevse-e5f6.local", mdns.T_A)]


def test_unrelated_queries_and_garbage_get_no_answer():
    assert mdns.build_response(_query(b"_ipp._tcp.local", mdns.T_PTR), INFO) is None
    assert mdns.build_response(b"\x00" * 5, INFO) is None
    resp = mdns.build_response(_query(b"_http._tcp.local", mdns.T_PTR), INFO)
    assert mdns.build_response(resp, INFO) is None  # responses are ignored
    loop = bytes(12) + b"\xc0\x0c"  # a compression pointer to itself
    assert mdns.build_response(bytes((0, 0, 0, 0, 0, 1)) + loop[6:], INFO) is None
