# Board support for the ESP32 (OpenEVSE WiFi gateway v1 style wiring on UART2 by
# default; the REPL keeps UART0). Copied to the device root as board.py.
import machine
import network

NAME = "esp32"
BUILDENV = "micropython_esp32"
data_dir = "/data"
http_port = 80
dns_port = 53
mdns_port = 5353
static_dir = "/web/static"
heap_info = True

UART_ID = 2
UART_TX = 17
UART_RX = 16

_wdt = None


def open_uart():
    u = machine.UART(UART_ID, 115200, tx=UART_TX, rx=UART_RX, timeout=0, rxbuf=512)
    return u, 32  # with timeout=0, read(32) returns what is there


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


def wdt_feed():
    global _wdt
    if _wdt is None:
        _wdt = machine.WDT(timeout=30000)
    _wdt.feed()


def reset():
    machine.reset()


def mem_free():
    import gc

    return gc.mem_free()
