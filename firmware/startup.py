# The wiring: load settings, build the Gateway and its services, run them in one asyncio loop.
# A task that crashes is logged and restarted; it never takes the gateway down. main.py (the
# file the boot sequence runs) calls main() here.
#
# Safe boot: main() arms the watchdog first and catches everything. A boot that fails (an
# exception before the gateway has run STABLE_MS, or a watchdog reset) is counted in memory
# that survives a reset (board.bootmem); after SAFE_AFTER failures in a row the board starts
# in safe mode (safemode.py: the access point and one page to fix or reset the settings)
# instead of crashing again. A power cycle starts the count afresh on the chip.
import asyncio

import board
from claims import Claims
from compat import drop, sleep_ms, ticks_diff, ticks_ms
from config import Config
from events import Bus
from gateway import Gateway
from rapi.client import RapiClient
from rapi.model import EvseModel
from rapi.monitor import EvseMonitor
from supervisor import supervise

# /config "version". Not a number of the C++ firmware's line: Home Assistant's update entity
# compares it with the C++ releases on GitHub (python-openevse-http firmware_check) and would
# offer v5.1.x to this gateway. "dev" is what that library and HA read as a development build:
# it passes every feature gate (get_awesome_version) and no release compares newer than it,
# while "v5.1.0", "5.1.0+mpy" ... would be offered v5.1.5 and "5.1.0_mpy_<hash>" breaks HA
# core's plain AwesomeVersion comparison. Our own version is BUILD ("build" in /config and
# the mDNS TXT record); API the OpenEVSE API level implemented ("api_version").
VERSION = "dev"
API = "5.1.0"
BUILD = "mpy-0.2.0"

_restart = None
SAFE_AFTER = 3  # failed boots in a row before safe mode
STABLE_MS = 60000  # running this long ends the count
KEEP_MS = 10000  # a restart asked after this long keeps a just-updated image (ota.keep)

# (gw attribute, module, class): services always started
SERVICES = (
    ("time", "clock", "TimeService"),
    ("wifi", "net.wifi", "WifiManager"),
    ("divert", "divert.service", "DivertService"),
    ("limits", "limits", "LimitService"),
    ("scheduler", "scheduler", "SchedulerService"),
    ("emeter", "energy", "EnergyMeter"),
)
# (gw attribute, module, class, the setting that enables it): imported and started on demand
OPTIONAL = (
    ("mqtt", "net.mqtt_service", "MqttService", "mqtt_enabled"),
    ("emoncms", "net.emoncms", "EmoncmsService", "emoncms_enabled"),
    ("timer", "delay_timer", "DelayTimerService", "delay_timer"),
    ("shaper", "shaper_service", "ShaperService", "current_shaper_enabled"),
)


def _data_path(name):
    import os

    try:
        os.mkdir(board.data_dir)
    except OSError:
        pass
    return board.data_dir + "/" + name


def build():
    uid = board.unique_id()
    serial = "".join("%02X" % b for b in uid)
    cfg = Config(_data_path("config.json"),
                 defaults={"hostname": "openevse-" + serial[-4:].lower(),
                           "mqtt_topic": "openevse-" + serial[-4:].lower(),
                           "emoncms_node": "openevse-" + serial[-4:].lower(),
                           "mqtt_announce_topic": "openevse/announce/" + serial[-4:].lower()})
    cfg.load()
    bus = Bus()
    model = EvseModel(bus)
    claims = Claims(model.limits)
    stream, chunk = board.open_uart()
    rapi = RapiClient(stream, chunk)
    manager = EvseMonitor(rapi, model, claims, cfg, bus)
    gw = Gateway(board, cfg, bus, claims, model, rapi, manager)
    gw.serial = serial
    gw.version = VERSION
    gw.api = API
    gw.build = BUILD
    gw.status_parts.insert(0, model.status)
    return gw


async def _reset_evse(gw):
    # The controller reboots without replying; the monitor sees $AB and re-applies.
    try:
        await gw.rapi.command("$FR", timeout_ms=200)
    except Exception:
        pass


async def run(gw):
    global _restart
    _restart = asyncio.Event()
    t0 = ticks_ms()

    def restart_hook(dev):
        if dev == "evse":
            asyncio.create_task(_reset_evse(gw))
        else:
            _restart.set()

    gw.restart_hook = restart_hook
    # $AN short press toggles the manual override, as the C++ gateway does
    gw.manager.on_button = lambda press: gw.override_toggle() if press == "0" else None
    tasks = [
        asyncio.create_task(supervise("rapi-reader", gw.rapi.reader)),
        asyncio.create_task(supervise("evse", gw.manager.run)),
        asyncio.create_task(supervise("heartbeat", gw.manager.heartbeat)),
        asyncio.create_task(supervise("housekeeping", gw.housekeeping)),
    ]

    def start(name, mod, cls):
        try:
            svc = getattr(__import__(mod, None, None, [cls]), cls)(gw)
        except ImportError as e:
            print("main: no", name, "service:", repr(e))
            return
        setattr(gw, name, svc)
        if hasattr(svc, "status"):
            gw.status_parts.append(svc.status)
        if hasattr(svc, "run"):  # the scheduler and the energy meter run in the clock's task
            tasks.append(asyncio.create_task(supervise(name, svc.run)))

    for name, mod, cls in SERVICES:
        start(name, mod, cls)

    # Optional services are imported only once enabled (RAM: MQTT alone is ~12 KB on the
    # ESP32); until then status.NEUTRAL reports them as not connected.
    def enable(keys=None):
        for name, mod, cls, key in OPTIONAL:
            if (keys is None or key in keys) and getattr(gw, name, None) is None \
                    and gw.config.get(key):
                start(name, mod, cls)

    def start_optional(name):
        for n, mod, cls, key in OPTIONAL:
            if n == name and getattr(gw, n, None) is None:
                start(n, mod, cls)
        return getattr(gw, name, None)

    gw.start_optional = start_optional
    enable()
    gw.config.on_change.append(enable)
    if gw.wifi is not None:
        gw.manager.on_wifi_request = gw.wifi.request_mode
    from web.app import create_app

    app = create_app(gw)
    gw.web = app
    tasks.append(asyncio.create_task(
        supervise("web", lambda: app.run("0.0.0.0", board.http_port))))
    tasks.append(asyncio.create_task(supervise("watchdog", lambda: _watchdog(app, gw))))
    if not getattr(board, "mdns_chip", False):
        # where the port's own responder holds UDP 5353 (the ESP32), it answers for us:
        # <hostname>.local, from network.hostname() (net/wifi_ops.py, docs/wifi.md)
        from net import mdns

        tasks.append(asyncio.create_task(
            supervise("mdns", lambda: mdns.serve(gw, board.mdns_port))))
    gw.log_event("notification", "boot")
    _ota(gw, "boot", _bootmem()[1])
    print("main: gateway up, web on port", board.http_port)
    await _restart.wait()
    if ticks_diff(ticks_ms(), t0) >= KEEP_MS:
        _ota(gw, "keep")  # else a restart in the new image's first minute rolls it back
    await sleep_ms(300)  # let the HTTP reply go out
    for t in tasks:
        t.cancel()


def _ota(gw, fn, *args):
    # An image that was just updated runs PENDING_VERIFY until it marks itself valid: a reset
    # before that (a crash, the watchdog) makes the boot loader start the previous image
    # (ota.py). Cold, and never fatal: an image without OTA slots just logs it.
    if not hasattr(board, "ota"):
        return
    try:
        import ota

        getattr(ota, fn)(gw, *args)
    except Exception as e:
        print("main: ota", fn, repr(e))
    finally:
        drop("ota")
        # the PC's esp32 is a Python model (boards/unix/esp32.py); on the chip the module is
        # built in and not in sys.modules, so this drops nothing there
        drop("esp32")


async def _watchdog(app, gw=None):
    # Fed while the loop runs. A web server that cannot listen again (a crash loop, a port
    # that stays taken) makes the gateway unreachable: after web_down_s, reset the board.
    down = 0
    up = 0
    limit = getattr(board, "web_down_s", 60)
    stable_s = getattr(board, "stable_ms", STABLE_MS) // 1000
    while True:
        down = 0 if app.server.listening else down + 1
        if down >= limit:
            print("main: web server down for %d s, resetting" % down)
            board.reset()
        board.wdt_feed()
        up += 1
        if up == stable_s:
            if _bootmem()[0]:
                _bootmem(0)  # this boot worked: the failure count starts again
            if gw is not None:
                _ota(gw, "confirm")  # and a new image is kept from now on
        await sleep_ms(1000)


def _bootmem(fails=None, why=""):
    """(failed boots in a row, the last one's error) from board.bootmem; with fails: store."""
    mem = getattr(board, "bootmem", None)
    if mem is None:
        return 0, ""
    try:
        if fails is not None:
            mem(("%d|%s" % (fails, why[:160])).encode())
            return fails, why
        n, _, why = mem().decode().partition("|")
        return int(n), why
    except (OSError, ValueError, UnicodeError):
        return 0, ""


def main():
    board.wdt_feed()  # armed before anything can hang (30 s on the chip; it cannot be stopped)
    fails, why = _bootmem()
    if getattr(board, "reset_by_watchdog", lambda: False)():
        fails, why = _bootmem(fails + 1, "watchdog reset (the loop stopped)")
    try:
        if fails >= SAFE_AFTER:
            import safemode

            safemode.run(fails, why)
        else:
            gw = build()
            asyncio.run(run(gw))
    except KeyboardInterrupt:
        return  # back to the REPL (on the board mpremote can then take over)
    except Exception as e:  # anything, MemoryError included: never stay at the REPL
        try:
            from safemode import describe

            why = describe(e)
        except Exception:  # no memory left for it: the short form
            why = repr(e)
            print(why)
        fails, why = _bootmem(_bootmem()[0] + 1, why)  # re-read: a stable run zeroed it
        print("main: boot failed (%d in a row): %s" % (fails, why))
        import time

        time.sleep(2)  # the log goes out; a crash loop does not hammer the flash
    print("main: restarting")
    board.reset()

