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


def wdt_feed():
    pass


def reset():
    # The launcher (tools/run.py) restarts the firmware when it exits with code 3,
    # as a board comes back after machine.reset().
    sys.exit(3)
