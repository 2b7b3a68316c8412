# The Gateway container: the shared objects (docs/architecture.md) and the operations
# that the web, MQTT and divert services share, so each rule lives in one place.
import gc

import claims as C
from compat import drop, sleep_ms, ticks_diff, ticks_ms
from rapi import codec
from rapi.client import RapiError, RapiTimeout

RAPI_ALLOWED = ("$G", "$F0", "$FB")
LIMIT_TYPES = ("time", "energy", "soc", "range")
HOUSEKEEPING_MS = 2000
# /config keys that live in the controller (rapi/settings.py writes them over RAPI)
CHARGER_KEYS = ("service", "scale", "offset", "max_current_hard", "max_current_soft",
                "diode_check", "vent_check", "ground_check", "relay_check", "gfci_check",
                "temp_check", "diodet", "ventt", "groundt", "relayt", "gfcit", "tempt")
STATUS_INPUTS = ("shaper_live_pwr", "battery_level", "battery_range", "time_to_full_charge",
                 "vehicle_charge_limit", "home_battery_soc", "home_battery_power")


class Gateway:
    def __init__(self, board, config, bus, claims, model=None, rapi=None, manager=None):
        self.board = board
        self.config = config
        self.bus = bus
        self.claims = claims
        self.model = model
        self.rapi = rapi
        self.manager = manager
        self.divert = None  # divert.service.DivertService
        self.shaper = None  # shaper_service.ShaperService, once the shaper is enabled
        self.start_optional = None  # fn(name) -> the service, started if it was not (startup)
        self.wifi = None  # net.wifi.WifiManager
        self.status_parts = []  # fns returning dicts merged into /status
        self.restart_hook = None  # fn(device) used by main to reboot
        self.override_version = 1
        self._manual = False  # a manual override is held (to see it released at unplug)
        self.limit_version = 1
        self._limit = None
        self._inputs = {}
        self._tick = ticks_ms()
        self._up_s = 0  # uptime, counted in short steps: a 32-bit tick wraps after 6.2 days
        self._up_ms = 0
        self.heap_free = self.heap_min = self.heap_used = 0
        self.evlog = None  # the event log's state (eventlog.py)
        self._net = [None, None]  # last wifi_state, mqtt_connected seen (event log edges)
        claims.on_change = self._claims_changed
        bus.subscribe(self._log_bus)
        config.on_change.append(self._config_changed)
        self.status_parts.append(self._own_status)

    # -- status -----------------------------------------------------------------
    def status(self):
        import status

        return status.build(self)

    def status_items(self):
        """status() as (key, value) pairs, for streaming it out (status.items)."""
        import status

        return status.items(self)

    def uptime(self):
        """Seconds since boot. Correct across the tick wrap as long as it is called at least
        every few days (the housekeeping task calls it every HOUSEKEEPING_MS)."""
        now = ticks_ms()
        ms = self._up_ms + ticks_diff(now, self._tick)
        self._tick = now
        self._up_s += ms // 1000
        self._up_ms = ms % 1000
        return self._up_s

    def sample_heap(self):
        """Free and used heap after a collection; the lowest free since boot."""
        if not hasattr(gc, "mem_free"):
            return
        gc.collect()
        self.heap_free = gc.mem_free()
        self.heap_used = gc.mem_alloc()
        if not self.heap_min or self.heap_free < self.heap_min:
            self.heap_min = self.heap_free

    async def housekeeping(self):
        """A task: the uptime step, a heap sample (not in every /status: a collection costs
        milliseconds on the chip) and the current shaper's step, every HOUSEKEEPING_MS."""
        while True:
            self.uptime()
            self.sample_heap()
            s = self.shaper
            if s is not None:  # the current shaper has no task of its own (shaper_service.py)
                try:
                    s.step()
                except Exception as e:
                    print("shaper:", repr(e))
            await sleep_ms(HOUSEKEEPING_MS)

    def _own_status(self):
        free = self.heap_free
        ov = self.claims.props(C.CLIENT_MANUAL)
        props, _ = self.claims.target()
        d = {
            "manual_override": 1 if ov else 0,
            # the target, as the C++ gateway reports it: right after a change, while the
            # controller is still getting there (15-80 ms)
            "status": props["state"],
            # what the claims ask for: a pilot below it is the charger's own reduction (hot)
            "target_current": props["charge_current"],
            "uptime": self.uptime(),
            "free_heap": free,
            "freeram": free,
            "heap_min": self.heap_min,
            "heap_used": self.heap_used,
            "config_version": self.config.version,
            "claims_version": self.claims.version,
            "override_version": self.override_version,
            "limit_version": self.limit_version,
            "limit": self._limit is not None,
            "divertmode": self.divert_mode(),
            "shaper_max_pwr": self.config.get("current_shaper_max_pwr"),
            "config_error": getattr(self.config, "note", ""),
        }
        d.update(self._inputs)
        if self.rapi is not None:
            d["comm_sent"] = self.rapi.sent
            d["comm_success"] = self.rapi.success
        return d

    def _claims_changed(self):
        if self.manager is not None:
            self.manager.poke()
        if self._manual and self.claims.props(C.CLIENT_MANUAL) is None:
            # released at the session's end (auto_release): clients re-read /override
            self._manual = False
            self._override_bump()
        props, _ = self.claims.target()
        self.bus.publish({"claims_version": self.claims.version, "status": props["state"],
                          "target_current": props["charge_current"]})

    def _config_changed(self, keys):
        self.bus.publish({"config_version": self.config.version})

    # -- event log (eventlog.py, cold) and the clock ---------------------------------
    def log_event(self, kind, msg=""):
        """One event log entry: kind information / notification / warning; msg for events
        that are not state changes (boot, WiFi, MQTT, schedule)."""
        import eventlog

        try:
            eventlog.log(self, kind, msg)
        except Exception as e:  # a full or broken flash must not stop the caller
            print("eventlog:", repr(e))
        finally:
            drop("eventlog")

    def _log_bus(self, ch):
        if "state" in ch:
            st = ch["state"]
            self.log_event("warning" if 4 <= st <= 17 else "information")
        n = self._net
        w = ch.get("wifi_state")
        if w is not None and w != n[0]:
            if w in ("joined", "connected", "lost", "failed"):
                self.log_event("notification", "wifi " + w)
            n[0] = w
        q = ch.get("mqtt_connected")
        if q is not None and q != n[1]:
            if n[1] is not None or q:
                self.log_event("notification", "mqtt connected" if q else "mqtt disconnected")
            n[1] = q

    def clock_set(self):
        """The clock was set (clock.TimeService): events waiting for it are written, the
        scheduler looks again."""
        if self.evlog is not None and self.evlog[5]:
            import eventlog

            try:
                eventlog.flush(self)
            except Exception as e:
                print("eventlog:", repr(e))
            finally:
                drop("eventlog")
        s = getattr(self, "scheduler", None)
        if s is not None:
            s.poke()

    # -- divert -----------------------------------------------------------------
    def divert_mode(self):
        return self.divert.mode if self.divert is not None else 1

    def set_divert_mode(self, mode):
        """1 normal, 2 eco. Raises ValueError for anything else."""
        if isinstance(mode, str):
            mode = mode.strip()
            if mode not in ("1", "2"):
                raise ValueError("divertmode must be 1 or 2")
            mode = int(mode)
        if isinstance(mode, bool) or mode not in (1, 2):
            raise ValueError("divertmode must be 1 or 2")
        if self.divert is None:
            raise ValueError("divert not available")
        self.divert.set_mode(mode)
        if mode == 2:
            # The seed's flow is "pause, then Eco": hand control to divert. Its claim is made
            # first (step) so the charger is never woken between the two changes.
            self.divert.step()
            if self.claims.props(C.CLIENT_MANUAL):
                self.override_clear()
        self.bus.publish({"divertmode": mode})

    def divert_feed(self, kind, value):
        """External feed value: kind 'solar' or 'grid_ie' (W) or 'voltage' (V).
        Raises ValueError for a value that is not a sane number."""
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError(kind + " must be a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(kind + " must be a number")
        lim = 1000 if kind == "voltage" else 1000000
        if kind not in ("solar", "grid_ie", "voltage") or value < -lim or value > lim:
            raise ValueError(kind + " out of range")
        if kind == "voltage" and value < 50:
            raise ValueError("voltage out of range")
        if kind == "voltage" and self.manager is not None:
            self.manager.set_voltage(int(value))
        if self.divert is not None:
            self.divert.feed(kind, int(value))

    def status_input(self, key, value):
        """Other values clients POST to /status (vehicle and home battery data): kept
        and shown in /status. Unknown keys are ignored; bad values raise ValueError."""
        if key not in STATUS_INPUTS:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(key + " must be a number")
        if value < -1000000 or value > 1000000:
            raise ValueError(key + " out of range")
        self._inputs[key] = value
        self.bus.publish({key: value})
        if key == "shaper_live_pwr" and self.shaper is not None:
            self.shaper.feed(int(value))

    # -- current shaper (shaper.py, shaper_service.py) ----------------------------
    def set_shaper(self, on):
        """POST /shaper, <base>/shaper/set: on/off until the next restart (not saved), as
        the C++ gateway. The service is imported the first time it is switched on."""
        s = self.shaper
        if s is None and on and self.start_optional is not None:
            s = self.start_optional("shaper")
        if s is None:
            if on:
                raise ValueError("shaper not available")
            self.bus.publish({"shaper": 0})
            return
        s.set_enabled(on)

    async def update_settings(self, d):
        """POST /config, <base>/config/set: the gateway's settings are saved, the charger's
        written to the controller and read back (rapi/settings.py). Returns the changed keys;
        raises config.ConfigError (400)."""
        if isinstance(d, dict):
            for k in CHARGER_KEYS:
                if k in d:
                    break
            else:  # the gateway's own settings only (the UI's forms): no need for the module
                return self.config.update(d)
        from rapi import settings

        try:
            return await settings.update(self, d)
        finally:
            drop("rapi.settings")

    # -- RAPI pass-through ------------------------------------------------------
    def rapi_allowed(self, cmd, dev=True):
        """cmd may go to the controller: the read-only allow-list, or anything in developer
        mode (dev=False: the allow-list alone)."""
        if dev and self.config.get("developer_mode"):
            return True
        for p in RAPI_ALLOWED:
            if cmd.startswith(p):
                return True
        return False

    async def rapi_passthrough(self, cmd, confirmed=False):
        """User-supplied RAPI command -> (ok, reply line or error code). A command that
        switches off a safety check needs confirmed=True even in developer mode
        (RAPI_RESPONSE_CONFIRM)."""
        if not isinstance(cmd, str):
            return False, "RAPI_RESPONSE_BLOCKED"
        cmd = cmd.strip()
        i = cmd.find("^")
        if i < 0:
            i = cmd.find("*")
        if i > 0:
            cmd = cmd[:i]
        if not cmd.startswith("$"):
            cmd = "$" + cmd
        if not self.rapi_allowed(cmd):
            return False, "RAPI_RESPONSE_BLOCKED"
        if not confirmed and not self.rapi_allowed(cmd, False):
            from rapi import guard

            try:
                if guard.safety_off(cmd):
                    return False, "RAPI_RESPONSE_CONFIRM"
            finally:
                drop("rapi.guard")
        if self.rapi is None:
            return False, "RAPI_RESPONSE_TIMEOUT"
        try:
            ln = await self.rapi.command(cmd)
        except ValueError:
            return False, "RAPI_RESPONSE_INVALID"
        except RapiTimeout:
            return False, "RAPI_RESPONSE_TIMEOUT"
        except RapiError:
            return False, "RAPI_RESPONSE_TIMEOUT"
        line = ln.raw
        return True, "%s^%02X" % (line, codec.xor_sum(line.encode()))

    # -- manual override --------------------------------------------------------
    def override_get(self):
        return self.claims.props(C.CLIENT_MANUAL) or {}

    def override_set(self, props):
        clean = C.validate_props(props)
        self.claims.replace(C.CLIENT_MANUAL, C.MANUAL, clean)
        self._override_bump()

    def override_toggle(self):
        if self.claims.props(C.CLIENT_MANUAL):
            self.claims.release(C.CLIENT_MANUAL)
        else:
            props, _ = self.claims.target()
            st = "disabled" if props["state"] == "active" else "active"
            self.claims.replace(C.CLIENT_MANUAL, C.MANUAL, {"state": st, "auto_release": True})
        self._override_bump()

    def override_clear(self):
        gone = self.claims.release(C.CLIENT_MANUAL)
        self._override_bump()
        return gone

    def _override_bump(self):
        self._manual = self.claims.props(C.CLIENT_MANUAL) is not None
        self.override_version += 1
        self.bus.publish({"override_version": self.override_version,
                          "manual_override": 1 if self.claims.props(C.CLIENT_MANUAL) else 0})

    # -- limit ------------------------------------------------------------------
    def limit_get(self):
        return dict(self._limit) if self._limit else {}

    def limit_set(self, d):
        if not isinstance(d, dict):
            raise ValueError("limit must be an object")
        t = d.get("type")
        v = d.get("value")
        if t not in LIMIT_TYPES:
            raise ValueError("type must be one of time, energy, soc, range")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError("value must be a positive whole number")
        rel = d.get("auto_release", d.get("release", True))
        self._limit = {"type": t, "value": v, "auto_release": bool(rel)}
        self.limit_version += 1
        self.bus.publish({"limit_version": self.limit_version, "limit": True})

    def limit_clear(self):
        had = self._limit is not None
        self._limit = None
        self.limit_version += 1
        self.bus.publish({"limit_version": self.limit_version, "limit": False})
        return had

    # -- system -----------------------------------------------------------------
    def restart(self, device):
        if device not in ("gateway", "evse"):
            raise ValueError("unknown device")
        if self.restart_hook:
            self.restart_hook(device)

    def factory_reset(self):
        import os

        path = getattr(self.config, "path", None)
        if path:
            for p in (path, path.rsplit(".", 1)[0] + ".good"):
                try:
                    os.remove(p)  # both: the good copy would otherwise bring the settings back
                except OSError:
                    pass
        self.restart("gateway")
