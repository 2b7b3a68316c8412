# Captive-portal DNS: answers every A query with the access point's address.
# build_reply() is pure (tested under both interpreters); serve() polls a UDP socket.
import asyncio

from compat import sleep_ms


def build_reply(req, ip):
    """DNS response bytes for request bytes req, or None to ignore the packet.
    Only A/IN questions get an answer; the question section is copied, nothing else
    (no EDNS OPT record echoed)."""
    if len(req) < 17:
        return None
    flags = req[2]
    if flags & 0x80 or (flags >> 3) & 0x0F:  # a response, or not a standard query
        return None
    if req[4] != 0 or req[5] != 1:  # exactly one question
        return None
    i = 12
    while True:
        if i >= len(req):
            return None
        n = req[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            return None
        i += n + 1
    if i + 4 > len(req):
        return None
    qtype = req[i] << 8 | req[i + 1]
    qclass = req[i + 2] << 8 | req[i + 3]
    question = req[12 : i + 4]
    answer = qtype == 1 and qclass == 1
    hdr = bytearray(req[:2])
    hdr.append(0x84 | (flags & 0x01))  # QR, AA, copy RD
    hdr.append(0x80)  # RA, NOERROR
    hdr.extend(b"\x00\x01\x00" + (b"\x01" if answer else b"\x00") + b"\x00\x00\x00\x00")
    out = bytes(hdr) + question
    if answer:
        parts = [int(p) for p in ip.split(".")]
        out += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes(parts)
    return out


async def serve(ip, port=53, host="0.0.0.0"):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(socket.getaddrinfo(host, port)[0][-1])
    s.setblocking(False)
    try:
        while True:
            try:
                req, addr = s.recvfrom(512)
            except OSError:
                await sleep_ms(50)
                continue
            rep = build_reply(req, ip)
            if rep:
                try:
                    s.sendto(rep, addr)
                except OSError:
                    pass
            await asyncio.sleep(0)
    finally:
        s.close()
