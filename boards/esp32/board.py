# Board support for the ESP32 (MicroPython ESP32_GENERIC, or ESP32_GENERIC-SPIRAM on modules
# with PSRAM). Copied to the device root as board.mpy (or frozen into the image).
import machine
import network

NAME = "esp32"
BUILDENV = "micropython_esp32"
data_dir = "/data"
http_port = 80
dns_port = 53
mdns_port = 5353
static_dir = "/static"
# The chip's lwIP has about 10 sockets in all (ESP-IDF CONFIG_LWIP_MAX_SOCKETS): the listening
# socket, mDNS, captive DNS, MQTT and Emoncms take five; the web server keeps to the rest.
max_http = 4  # requests served at once (web/server.py)
max_ws = 2  # WebSocket clients (the UI, Home Assistant)
web_down_s = 60  # the web server not listening this long: reset (the watchdog's job)
ap_ip = "192.168.4.1"  # the ESP-IDF soft-AP's address (its DHCP offers it as DNS too)
# The port's own mDNS responder (MICROPY_HW_ENABLE_MDNS_RESPONDER/QUERIES, on in ESP32_GENERIC)
# binds UDP 5353 at the first IP_EVENT_STA_GOT_IP without address reuse (network_wlan.c,
# espressif/mdns _udp_pcb_main_init). It answers <network.hostname()>.local, and getaddrinfo()
# needs it for .local names (an MQTT broker at emonpi.local): the gateway leaves it the port.
mdns_chip = True
wifi_ms = None  # net/wifi.py's timings as they are
ntp_port = 123
clock_valid_at_boot = False  # the RTC counts from 2000 after power-on until SNTP or $GT


def resolve(host):
    """Host name -> IPv4 text (lwIP DNS; blocks up to its timeout: the caller caches it)."""
    import socket

    return socket.getaddrinfo(host, 123)[0][-1][0]  # sockaddr is ("a.b.c.d", port) here

# The RAPI UART, per module family (the Arduino core's defaults that OpenEVSE's C++ gateway
# builds use, ../shared/reference/rapi.md):
#  * ESP32-WROOM (no PSRAM): UART2 on RX GPIO16, TX GPIO17 (Olimex ESP32-Gateway wiring);
#  * ESP32-WROVER and other modules with PSRAM: GPIO16/17 are wired to the PSRAM, so UART1 on
#    RX GPIO25, TX GPIO27 (the C++ esp-wrover-kit build).
# PSRAM is seen when the firmware uses it (the SPIRAM build: a heap of megabytes). A file
# /data/board.json such as {"uart": 2, "rx": 16, "tx": 17} overrides both.
UART_WROOM = (2, 16, 17)
UART_PSRAM = (1, 25, 27)
_PINS_OK = (1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33, 34,
            35, 36, 39)  # 34-39 are input only: fine for RX

_wdt = None


def has_psram():
    import gc

    return gc.mem_free() + gc.mem_alloc() > 1024 * 1024


def uart_pins():
    """(uart id, rx, tx): /data/board.json if valid, else the module family's default."""
    pins = UART_PSRAM if has_psram() else UART_WROOM
    try:
        import json

        with open(data_dir + "/board.json") as f:
            d = json.load(f)
        u, rx, tx = d.get("uart", pins[0]), d.get("rx", pins[1]), d.get("tx", pins[2])
        if u in (1, 2) and rx in _PINS_OK and tx in _PINS_OK and tx < 34 and rx != tx:
            pins = (u, rx, tx)
        else:
            print("board: board.json pins not usable, keeping", pins)
    except (OSError, ValueError, AttributeError):
        pass
    return pins


def open_uart():
    u, rx, tx = uart_pins()
    print("board: RAPI on UART%d rx %d tx %d" % (u, rx, tx))
    return machine.UART(u, 115200, tx=tx, rx=rx, timeout=0, rxbuf=512), 32  # read(32): what is there


def unique_id():
    return machine.unique_id()


_sta = None
_ap = None


def wlan():
    global _sta, _ap
    if _sta is None:
        _sta = network.WLAN(network.STA_IF)
        _ap = network.WLAN(network.AP_IF)
    return _sta, _ap


def hostname(name):
    network.hostname(name)


def wdt_feed():
    """Feeds the hardware watchdog; the first call arms it (30 s; it cannot be stopped)."""
    global _wdt
    if _wdt is None:
        _wdt = machine.WDT(timeout=30000)
    _wdt.feed()


def bootmem(data=None):
    """A few bytes that survive machine.reset() and watchdog resets but not a power cycle:
    RTC memory (RTC_NOINIT, ports/esp32/machine_rtc.c). Returns them when called without data."""
    rtc = machine.RTC()
    if data is None:
        return rtc.memory()
    rtc.memory(data)


def reset_by_watchdog():
    return machine.reset_cause() == machine.WDT_RESET


def reset():
    machine.reset()


def ota():
    """esp32.Partition: the two app slots and the OTA data of the ESP32_GENERIC "OTA"
    variant's partition table (MicroPython v1.28.0 ports/esp32/esp32_partition.c,
    partitions-4MiB-ota.csv); used by the cold module ota.py."""
    from esp32 import Partition

    return Partition
