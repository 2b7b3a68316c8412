# Board support for the PC (MicroPython unix port). The RAPI UART is a real pty (or TCP)
# connected to the virtual EVSE; the WiFi radio is simulated (see wlan.py).
import os
import sys

NAME = "unix"
BUILDENV = "micropython_unix"


def _env(name, default):
    v = os.getenv(name)
    return v if v else default


data_dir = _env("OEVSE_DATA", "data")
http_port = int(_env("HTTP_PORT", "8080"))
dns_port = int(_env("DNS_PORT", "5300"))  # captive DNS (53 on the chip)
mdns_port = int(_env("MDNS_PORT", "5353"))
static_dir = _env("OEVSE_STATIC", "firmware/web/static")
# as boards/esp32/board.py: the chip's socket budget
max_http = 4
max_ws = 2
web_down_s = int(_env("WEB_DOWN_S", "60"))
# The access point's address: on the chip the port's default AP address (see
# boards/esp32/board.py); here a loopback address, so a client sent to the portal stays on
# this machine. Its /24 is "the AP's network": a test stands in for a phone on the AP by
# connecting from 127.0.4.x.
ap_ip = _env("AP_IP", "127.0.4.1")
# The port's own mDNS responder holds UDP 5353 (boards/esp32/board.py); not on the PC.
mdns_chip = False
# no multicast group on the PC: replies to the group would leave 127.0.0.0/8
mdns_multicast = False
# SNTP: the server's UDP port (123 on the chip; a test runs its own server on 127.0.0.1)
ntp_port = int(_env("NTP_PORT", "12300"))
sntp_needs_sta = False  # the test's server is on loopback, reachable without the radio model
# The gateway's clock starts unset, as the chip's does at power-on (the host's clock is not
# the gateway's); OEVSE_CLOCK=host starts from the host's clock instead.
clock_valid_at_boot = _env("OEVSE_CLOCK", "") == "host"


def resolve(host):
    """The SNTP server's address: only loopback (a literal 127.x.x.x or localhost). Nothing
    is looked up, so nothing leaves 127.0.0.0/8 on the PC; any other name is None."""
    if host == "localhost":
        return "127.0.0.1"
    p = host.split(".")
    if len(p) == 4 and p[0] == "127" and all(x.isdigit() and int(x) < 256 for x in p):
        return host
    return None


def _wifi_ms():
    # WIFI_MS="join=4000,lost=3000": shorter WiFi timers for tests (net/wifi.py T)
    d = {}
    for part in _env("WIFI_MS", "").split(","):
        k, _, v = part.partition("=")
        if v:
            d[k.strip()] = int(v)
    return d


wifi_ms = _wifi_ms()


def open_uart():
    """Returns (stream, read_chunk). RAPI_TCP=host:port uses a socket, else the pty
    path in RAPI_TTY (default build/evse.tty)."""
    tcp = os.getenv("RAPI_TCP")
    if tcp:
        import socket

        host, port = tcp.rsplit(":", 1)
        s = socket.socket()
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        s.setblocking(False)
        return s, 64
    # A blocking tty read(n) waits for n bytes on this port, so read one at a time.
    return open(_env("RAPI_TTY", "build/evse.tty"), "r+b", buffering=0), 1


def unique_id():
    name = _env("OEVSE_ID", "a1b2c3d4e5f6")
    return bytes(int(name[i : i + 2], 16) for i in range(0, 12, 2))


def wlan():
    """(sta, ap) objects with the network.WLAN interface."""
    import wlan as simwlan

    return simwlan.get()


def hostname(name):
    """network.hostname(name) on the chip."""
    import wlan as simwlan

    simwlan.hostname(name)


_wdt = _env("WDT_FILE", "")


def wdt_feed():
    """machine.WDT's feed. Under the boot loader model (tools/bootloader.py sets WDT_FILE) the
    feed touches that file, and the boot loader resets the firmware when it stays untouched
    for the watchdog's time (the chip's 30 s); elsewhere nothing watches."""
    if _wdt:
        open(_wdt, "w").close()


def bootmem(data=None):
    """A few bytes that survive a reset (RTC memory on the chip): the boot-failure count.
    Here a file in the data folder. Returns the bytes when called without data."""
    p = data_dir + "/.bootmem"
    if data is None:
        try:
            with open(p, "rb") as f:
                return f.read()
        except OSError:
            return b""
    with open(p, "wb") as f:
        f.write(data)


def reset_by_watchdog():
    # machine.reset_cause() == WDT_RESET: the boot loader model says so after its watchdog
    return _env("RESET_CAUSE", "") == "wdt"


def ota():
    """esp32.Partition as on the chip: here the model of the flash's OTA slots and otadata
    (boards/unix/esp32.py, files in OEVSE_FLASH) that tools/bootloader.py boots from."""
    from esp32 import Partition

    return Partition


# Started by the boot loader model (tools/bootloader.py), which boots the OTA slots. `make run`
# runs the source tree instead: an uploaded image is staged in the modelled flash, not run.
ota_boots = bool(os.getenv("OTA_RUNNING"))
# how long a boot must run before it counts as good (startup.py STABLE_MS; tests shorten it)
stable_ms = int(_env("STABLE_MS", "60000"))


def reset():
    # The launcher (tools/run.py) restarts the firmware when it exits with code 3,
    # as a board comes back after machine.reset().
    sys.exit(3)
