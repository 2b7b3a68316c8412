# rapi/settings.py: POST /config and <base>/config/set. The gateway's own settings are saved
# (config.update); the charger's settings live in the controller and are written to it over
# RAPI and read back (rapi.md 2.2-2.3): service level ($SL), safety checks ($FF), ammeter
# scale and offset ($SA), the user's maximum current ($SC n) and the hardware maximum
# ($SC n M). What the controller cannot do is a 400 naming the field, never a silent
# "no change". Used rarely: imported per request (gateway.update_settings) and dropped after.
from compat import drop
from config import ConfigError
from rapi import model as M

# check -> ($FF letter, ECF bit that is set while the check is off)
CHECKS = {"diode_check": ("D", 0x0002), "vent_check": ("V", 0x0004),
          "ground_check": ("G", 0x0008), "relay_check": ("R", 0x0010),
          "gfci_check": ("F", 0x0200), "temp_check": ("T", 0x0400)}
# the older names (v2 firmware, still read by python-openevse-http): 1 = check off
OLD = {"diodet": "diode_check", "ventt": "vent_check", "groundt": "ground_check",
       "relayt": "relay_check", "gfcit": "gfci_check", "tempt": "temp_check"}
AUTO_OFF = 0x0020  # ECF_AUTO_SVC_LEVEL_DISABLED
INF = float("inf")


def _int(key, v, lo, hi):
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            v = None
    # NaN and inf (JSON 1e309) are refused before int(), which raises on them
    if isinstance(v, float) and v == v and v not in (INF, -INF) and v == int(v):
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > hi:
        raise ConfigError(key, "%s must be a whole number from %d to %d" % (key, lo, hi))
    return v


def _bool(key, v):
    if v in (True, False, 0, 1):
        return bool(v)
    raise ConfigError(key, key + " must be true or false")


def take(d):
    """Move the charger's settings out of d (a /config body) into a checked dict; raises
    ConfigError for a bad value (then nothing has been written)."""
    out = {}
    for k in list(d):
        v = d[k]
        if k in OLD:
            out[OLD[k]] = not _bool(k, v)
            out.setdefault("_as", {})[OLD[k]] = k  # errors name the key that was posted
        elif k in CHECKS:
            out[k] = _bool(k, v)
        elif k == "service":  # 1, 2, or 0 / "A" for automatic detection
            out[k] = "A" if v in ("A", "a", 0, "0") and v is not False else _int(k, v, 1, 2)
        elif k == "scale":
            out[k] = _int(k, v, 1, 65535)
        elif k == "offset":  # $SA parses unsigned decimals: a negative offset cannot go over RAPI
            out[k] = _int(k, v, 0, 32767)
        elif k == "max_current_hard":
            out[k] = _int(k, v, 6, 80)
        elif k == "max_current_soft":  # 0: leave the controller's as it is
            out[k] = _int(k, v, 0, 80)
            if 0 < out[k] < 6:
                raise ConfigError(k, "max_current_soft must be at least 6 A")
            if not out[k]:
                del out[k]
        else:
            continue
        del d[k]
    return out


async def _ge(mon):
    ln = await mon._cmd("$GE")
    v = M.parse_ints(ln.fields, 2, 16) if ln and ln.ok else None
    if v is not None:
        mon.m.set("flags", v[1])
        return v[1]
    return None


async def _send(mon, key, cmd, why):
    ln = await mon._cmd(cmd)
    if ln is None:
        raise ConfigError(key, "%s: the controller did not answer %s" % (key, cmd))
    if not ln.ok:
        raise ConfigError(key, why)
    return ln


async def apply(gw, ch):
    """Write the charger settings `ch` (from take()) and read each back; returns the keys
    that changed. Raises ConfigError for the first one the controller does not take."""
    mon = gw.manager
    m = gw.model
    if m is None or mon is None or not m.evse_connected:
        k = [k for k in ch if k != "_as"][0]
        k = ch.get("_as", {}).get(k, k)
        raise ConfigError(k, "%s: the controller is not connected, nothing was written" % k)
    done = []
    if "service" in ch:
        lvl = ch["service"]
        flags = await _ge(mon)
        if lvl == "A":
            if flags is None or flags & AUTO_OFF:
                await _send(mon, "service", "$SL A", "service: this controller has no automatic "
                            "service level detection (EU builds answer $SL A with $NK)")
                flags = await _ge(mon)
                if flags is None or flags & AUTO_OFF:
                    raise ConfigError("service", "service: the controller did not take $SL A")
                done.append("service")
        elif flags is None or (flags & 1) + 1 != lvl or not flags & AUTO_OFF:
            await _send(mon, "service", "$SL %d" % lvl, "service: the controller refused $SL %d" % lvl)
            flags = await _ge(mon)
            if flags is None or (flags & 1) + 1 != lvl:
                raise ConfigError("service", "service: the controller still reports level %s"
                                  % ("?" if flags is None else (flags & 1) + 1))
            done.append("service")
            mon._pilot_known = False  # $SL resets the current to that level's saved maximum
    for k in CHECKS:
        if k not in ch:
            continue
        letter, bit = CHECKS[k]
        on = ch[k]
        f = ch.get("_as", {}).get(k, k)
        flags = m.flags
        if bool(flags & bit) != on:
            continue  # already as asked (the bit is set while the check is off)
        await _send(mon, f, "$FF %s %d" % (letter, on), "%s: the controller refused $FF %s" % (f, letter))
        flags = await _ge(mon)
        if flags is None or bool(flags & bit) == on:
            raise ConfigError(f, "%s: the controller's settings did not change" % f)
        done.append(f)
    if "scale" in ch or "offset" in ch:
        want = (ch.get("scale", m.scale), ch.get("offset", m.offset))
        if want != (m.scale, m.offset):
            await _send(mon, "scale", "$SA %d %d" % want, "scale: the controller refused $SA "
                        "(built without an ammeter)")
            ln = await mon._cmd("$GA")
            got = M.parse_ints(ln.fields, 2) if ln and ln.ok else None
            if got != want:
                raise ConfigError("scale", "scale: the controller reports %r" % (got,))
            m.scale, m.offset = want
            done += [k for k in ("scale", "offset") if k in ch]
    if "max_current_hard" in ch and ch["max_current_hard"] != m.hw_max_a:
        v = ch["max_current_hard"]
        if v > m.hw_max_a:
            # the hardware maximum is the installation's rating: never raised from outside
            raise ConfigError("max_current_hard", "max_current_hard can only be lowered "
                              "(now %d A); raise it from the controller's setup menu" % m.hw_max_a)
        await _send(mon, "max_current_hard", "$SC %d M" % v, "max_current_hard: the controller "
                    "keeps its hardware maximum (%d A): $SC M is taken once, and it was set "
                    "before; change it from the controller's setup menu" % m.hw_max_a)
        mon._pilot_known = False
        if not await mon._read_gc() or m.hw_max_a != v:
            raise ConfigError("max_current_hard", "max_current_hard: the controller reports %d A"
                              % m.hw_max_a)
        done.append("max_current_hard")
    if "max_current_soft" in ch:
        v = ch["max_current_soft"]
        await mon._read_gc()  # compared with the controller's own, not a stored copy
        if v != m.max_a:
            if v > m.hw_max_a:
                raise ConfigError("max_current_soft", "max_current_soft must not exceed the "
                                  "hardware maximum (%d A)" % m.hw_max_a)
            # saved in the controller's EEPROM (once per change); the ceiling of $SC n V.
            # Ours: the monitor must not set it back as a maximum that rose by itself
            mon.max_known = v
            await _send(mon, "max_current_soft", "$SC %d" % v,
                        "max_current_soft: the controller refused $SC %d" % v)
            mon._pilot_known = False
            if not await mon._read_gc() or m.max_a != v:
                raise ConfigError("max_current_soft", "max_current_soft: the controller "
                                  "reports %d A" % m.max_a)
            done.append("max_current_soft")
    m.commit()
    mon.poke()  # the current may have to be applied again within the new limits
    return done


async def update(gw, d):
    """Check everything, save the gateway's settings, then write the charger's. Returns the
    changed keys; raises ConfigError (a bad value: nothing saved or written)."""
    if not isinstance(d, dict):
        raise ConfigError("", "settings must be a JSON object")
    ch = take(d)
    done = []
    if ch:
        import config_rules  # every value is checked before anything is written

        try:
            config_rules.validate(gw.config, d)
        finally:
            drop("config_rules")
        done = await apply(gw, ch)
    changed = gw.config.update(d)
    if done:
        gw.config.changed(done)
    return changed + done
