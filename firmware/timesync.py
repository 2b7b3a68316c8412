# The clock's rare jobs, imported by clock.TimeService for each and dropped after: the
# controller's RTC ($GT read, $S1 set; rapi.md) and one SNTP query (RFC 4330) over UDP with a
# timeout, polled without blocking the loop (the port's asyncio has no UDP streams).
import clock
from compat import sleep_ms, ticks_diff, ticks_ms

NTP_DELTA = 2208988800  # 1900 -> 1970
TIMEOUT_MS = 3000


async def from_evse(svc):
    """Read the controller's RTC ($GT, UTC as the C++ gateway's OpenEVSE library sets it);
    take it when it is ahead of the gateway's clock (input.cpp: only forward, so a drifting
    RTC never undoes an SNTP time). True once read (or known to have no RTC)."""
    try:
        ln = await svc.gw.rapi.command("$GT")
    except Exception:
        return False
    if not ln.ok or len(ln.fields) < 6:
        return True  # a controller without $GT
    try:
        y, mo, d, h, mi, s = [int(x) for x in ln.fields[:6]]
    except ValueError:
        return True
    if 165 in (y, mo, d, h, mi) or s == 85 or not (1 <= mo <= 12 and 1 <= d <= 31) \
            or h > 23 or mi > 59 or s > 59:
        return True  # no RTC (OpenEVSE_Lib's markers) or garbage
    t = clock.days_from_civil(2000 + y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    if clock.valid(t) and t > clock.now():
        clock.set_time(t, "evse")
        print("time: from the controller's RTC", clock.iso(t))
        svc.changed("evse")
    return True


async def to_evse(svc):
    """Set the controller's RTC from the gateway's clock ($S1 yy mo dd hh mm ss, UTC)."""
    if not clock.valid():
        svc.push = False
        return
    f = clock.fields(clock.now())
    try:
        ln = await svc.gw.rapi.command("$S1 %d %d %d %d %d %d" % (f[0] % 100, f[1], f[2], f[3], f[4], f[5]))
        svc.push = False  # answered (a refusal is not retried: a controller without an RTC)
        if not ln.ok:
            print("time: the controller refused $S1")
    except Exception:
        pass  # tried again at the next step while push stays set


def _resolve(svc, host):
    if host != svc._host:
        svc._host = host
        svc.host_ip = None
    if svc.host_ip is None:
        # once per host name: the chip's getaddrinfo blocks (lwIP DNS); the PC board answers
        # loopback names only and never asks a DNS server (nothing may leave 127.0.0.0/8)
        svc.host_ip = svc.gw.board.resolve(host)
    return svc.host_ip


async def sntp(svc):
    """One query to sntp_hostname; sets the clock. True on a good answer."""
    import socket

    gw = svc.gw
    host = gw.config.get("sntp_hostname")
    try:
        ip = _resolve(svc, host)
    except Exception as e:
        ip = None
        svc.sntp_error = "cannot resolve %s: %r" % (host, e)
    if ip is None:
        if not svc.sntp_error.startswith("cannot"):
            svc.sntp_error = "cannot resolve " + host
        return False
    port = getattr(gw.board, "ntp_port", 123)
    pkt = bytearray(48)
    pkt[0] = 0x1B  # LI 0, version 3, mode 3 (client)
    nonce = ticks_ms() & 0x3FFFFFFF
    for i in range(4):  # a transmit timestamp the server echoes as originate
        pkt[44 + i] = (nonce >> (24 - 8 * i)) & 0xFF
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        addr = socket.getaddrinfo(ip, port)[0][-1]
        s.sendto(pkt, addr)
        t0 = ticks_ms()
        data = None
        while ticks_diff(ticks_ms(), t0) < TIMEOUT_MS:
            try:
                data = s.recv(64)
                break
            except OSError:
                await sleep_ms(50)
    except OSError as e:
        svc.sntp_error = "%s: %r" % (host, e)
        return False
    finally:
        s.close()
    if not data or len(data) < 48:
        svc.sntp_error = host + ": no answer"
        return False
    mode, stratum = data[0] & 7, data[1]
    if mode != 4 or not 1 <= stratum <= 15 or data[0] >> 6 == 3 \
            or bytes(data[24:32]) != bytes(pkt[40:48]):  # not the answer to our query
        svc.sntp_error = host + ": bad answer"
        return False
    secs = (data[40] << 24 | data[41] << 16 | data[42] << 8 | data[43]) - NTP_DELTA
    if not clock.valid(secs):
        svc.sntp_error = host + ": bad time"
        return False
    if data[44] & 0x80:
        secs += 1  # round the fraction
    clock.set_time(secs, "sntp")
    svc.sntp_ok = secs
    svc.sntp_error = ""
    svc.changed("sntp")
    return True
