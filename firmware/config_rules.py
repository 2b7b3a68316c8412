# config_rules.py: every setting's type and range, validation, and loading and atomic saving of
# the settings file. Used only when settings are read from flash or changed (rare): config.py
# imports it for that and drops it again, so this code does not stay in the ESP32's heap.
#
# The file: the settings as one JSON line, then a line with its CRC-32 (8 hex digits), so a
# damaged file (truncated, one bad byte, empty) is told from a good one. Every save writes it
# (temp file + rename: a power cut leaves the old or the new one), reads it back, and only then
# copies it to config.good, the last known good copy. Loading a damaged file falls back to that
# copy and says so (cfg.note, /status config_error) instead of silently starting from the
# defaults, which would drop the admin login and the WiFi credentials. A file without the CRC
# line (written by hand, or by older firmware) is read as plain JSON.
import json
import os

from config import SECRET_MASK, ConfigError

# key: (default, kind, a, b) ; kind: "s" string (a = max length), "i" int (a..b),
# "b" bool, "c" choice (a = tuple of allowed values)
SPEC = {
    "ssid": ("", "s", 32, 0),
    "pass": ("", "s", 64, 0),
    "ap_ssid": ("", "s", 32, 0),
    "ap_pass": ("", "s", 64, 0),
    "hostname": ("", "s", 32, 0),
    "www_username": ("", "s", 32, 0),
    "www_password": ("", "s", 64, 0),
    "emoncms_enabled": (False, "b", 0, 0),
    "emoncms_server": ("https://emoncms.org", "s", 96, 0),
    "emoncms_node": ("", "s", 32, 0),
    "emoncms_apikey": ("", "s", 64, 0),
    "emoncms_fingerprint": ("", "s", 64, 0),
    "mqtt_enabled": (False, "b", 0, 0),
    "mqtt_protocol": ("mqtt", "c", ("mqtt", "mqtts"), 0),
    "mqtt_server": ("", "s", 64, 0),
    "mqtt_port": (1883, "i", 1, 65535),
    "mqtt_topic": ("", "s", 64, 0),
    "mqtt_user": ("", "s", 32, 0),
    "mqtt_pass": ("", "s", 64, 0),
    "mqtt_solar": ("", "s", 64, 0),
    "mqtt_grid_ie": ("", "s", 64, 0),
    "mqtt_vrms": ("", "s", 64, 0),
    "mqtt_announce_topic": ("", "s", 64, 0),
    "mqtt_retained": (False, "b", 0, 0),
    "ha_discovery": (False, "b", 0, 0),
    "divert_enabled": (False, "b", 0, 0),
    "charge_mode": ("fast", "c", ("fast", "eco"), 0),
    "divert_type": (-1, "i", -1, 1),
    "divert_stale_time": (120, "i", 10, 3600),
    "divert_start_time": (60, "i", 0, 3600),  # s the surplus must hold before a start
    "divert_change_time": (60, "i", 10, 3600),  # s at least between opposite pilot changes
    "voltage": (0, "i", 0, 300),  # V; 0 = use the controller's
    "heartbeat_interval": (5, "i", 0, 60),
    "heartbeat_current": (6, "i", 6, 80),
    "pause_uses_disabled": (False, "b", 0, 0),
    # the daily window the gateway runs as its delay timer, "HH:MM-HH:MM" ("" none); a timer
    # found in the controller is taken into it unless delay_timer_owner is "controller"
    "delay_timer": ("", "s", 11, 0),
    "delay_timer_owner": ("gateway", "c", ("gateway", "controller"), 0),
    "developer_mode": (False, "b", 0, 0),
    "sntp_enabled": (True, "b", 0, 0),
    "sntp_hostname": ("pool.ntp.org", "s", 64, 0),
    "time_zone": ("Europe/London|GMT0BST,M3.5.0/1,M10.5.0", "s", 64, 0),
    "scheduler_start_window": (600, "i", 0, 3600),  # s: random start offset (C++: 600)
    "led_brightness": (128, "i", 0, 255),
    "mqtt_vehicle_range_miles": (False, "b", 0, 0),
    "rfid_enabled": (False, "b", 0, 0),
    "is_threephase": (False, "b", 0, 0),
    # the current shaper (shaper.py); the C++ gateway's keys and defaults, plus the failsafe
    "current_shaper_enabled": (False, "b", 0, 0),
    "current_shaper_max_pwr": (0, "i", 0, 200000),  # W: the house's limit
    "current_shaper_smoothing_time": (60, "i", 0, 3600),
    "current_shaper_min_pause_time": (300, "i", 0, 3600),
    "current_shaper_data_maxinterval": (120, "i", 5, 3600),
    "current_shaper_failsafe": ("pause", "c", ("pause", "min"), 0),  # a stale feed: pause or 6 A
    "mqtt_live_pwr": ("", "s", 64, 0),
}
SECRETS = ("pass", "ap_pass", "www_password", "emoncms_apikey", "mqtt_pass")
# What a text setting is used for, when that asks more than printable text (_text):
# "host" an RFC 1123 host name label (also the HTTP realm, MQTT client id, mDNS name),
# "topic" an MQTT topic we publish to, "filter" one we subscribe to, "server" a host name or
# address, "url" the Emoncms server, "user" an HTTP Basic user name, "key" letters, digits,
# - and _ (an API key), "node" an Emoncms node name, "hex" a certificate fingerprint, "wpa" the access
# point's WPA2 password (8-63 characters or empty for the default).
USE = {
    "hostname": "host", "mqtt_topic": "topic", "mqtt_announce_topic": "topic",
    "mqtt_solar": "filter", "mqtt_grid_ie": "filter", "mqtt_vrms": "filter",
    "mqtt_live_pwr": "filter",
    "mqtt_server": "server", "emoncms_server": "url", "www_username": "user",
    "emoncms_apikey": "key", "emoncms_node": "node", "emoncms_fingerprint": "hex",
    "ap_pass": "wpa", "sntp_hostname": "server",
}
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HEX = "0123456789abcdefABCDEF"


def _only(v, allowed):
    for ch in v:
        if ch not in allowed:
            return False
    return True


def _topic_ok(v, wild):
    # MQTT 3.1.1 4.7: UTF-8 (checked by the caller), no U+0000, "+" and "#" only in filters,
    # each alone in its level and "#" last; "$" topics belong to the broker
    if v[:1] == "$":
        return False
    levels = v.split("/")
    for i in range(len(levels)):
        lv = levels[i]
        if "+" in lv or "#" in lv:
            if not wild or (lv != "+" and not (lv == "#" and i == len(levels) - 1)):
                return False
    return True


def _text(key, v):
    """Why the text v cannot be used for setting key, or None when it can."""
    for ch in v:
        o = ord(ch)
        if o < 32 or o == 127:
            return key + " must not contain control characters (line breaks, tabs)"
        if 0xD800 <= o <= 0xDFFF:
            return key + " is not valid UTF-8 text"
    if key == "ssid" and len(v.encode()) > 32:
        return "ssid is too long (max 32 bytes)"
    use = USE.get(key)
    if use is None or (v == "" and use not in ("host", "user")):
        return None
    if use == "host":
        if not (0 < len(v) <= 63 and _only(v, _ALNUM + "-") and v[0] != "-" and v[-1] != "-"):
            return "hostname must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
    elif use == "topic" or use == "filter":
        if not _topic_ok(v, use == "filter"):
            return key + (" must be an MQTT topic filter: + and # only as a whole level (# last), "
                          "no leading $" if use == "filter" else
                          " must be an MQTT topic: no + or #, no leading $")
    elif use == "server":
        if not _only(v, _ALNUM + ".-_:[]"):
            return key + " must be a host name or an IP address (no scheme, path or spaces)"
    elif use == "url":
        i = v.find("://")
        if (i >= 0 and v[:i].lower() not in ("http", "https")) or " " in v:
            return key + " must be http://host[:port][/path] or https://..."
        host = v[i + 3 if i >= 0 else 0:].split("/", 1)[0].split(":", 1)[0]
        if not host or not _only(host, _ALNUM + ".-_[]"):
            return key + " has no valid host"
    elif use == "user":
        if ":" in v:  # HTTP Basic sends user:password, so a ":" in the user locks it out
            return key + " must not contain ':'"
    elif use == "key":
        if not _only(v, _ALNUM + "-_"):
            return key + " must be letters, digits, - or _"
    elif use == "node":
        if not _only(v, _ALNUM + "_-. "):
            return key + " must be letters, digits, space, _ - or ."
    elif use == "hex":
        if not _only(v, _HEX + ": "):
            return key + " must be hex digits (pairs may be separated by : or space)"
    elif use == "wpa":
        if not 8 <= len(v) <= 63:
            return key + " must be 8 to 63 characters (WPA2), or empty for the default"
    return None


def check(key, value):
    """Validate one value; returns the normalised value or raises ConfigError."""
    spec = SPEC.get(key)
    if spec is None:
        raise ConfigError(key, "unknown setting: " + key)
    kind, a, b = spec[1], spec[2], spec[3]
    if kind == "s":
        if not isinstance(value, str):
            raise ConfigError(key, key + " must be text")
        if len(value) > a:
            raise ConfigError(key, "%s is too long (max %d characters)" % (key, a))
        why = _text(key, value)
        if why:
            raise ConfigError(key, why)
        if key == "time_zone":
            import tzrule

            try:
                tzrule.parse(value)
            except (ValueError, IndexError):
                raise ConfigError(key, "time_zone must be a POSIX TZ rule, e.g. "
                                       "Europe/London|GMT0BST,M3.5.0/1,M10.5.0")
        if key == "sntp_hostname" and not value:
            raise ConfigError(key, "sntp_hostname must not be empty")
        if key == "delay_timer" and value:
            import delay_timer

            if delay_timer.parse(value) is None:
                raise ConfigError(key, "delay_timer must be HH:MM-HH:MM (or empty)")
        return value
    if kind == "b":
        if value in (True, False, 0, 1):
            return bool(value)
        raise ConfigError(key, key + " must be true or false")
    if kind == "i":
        if isinstance(value, bool):
            raise ConfigError(key, key + " must be a whole number")
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(key, key + " must be a whole number")
        if isinstance(value, float):
            # NaN and inf (JSON 1e309) first: int() of them raises
            if value - value != 0 or value != int(value):
                raise ConfigError(key, key + " must be a whole number")
            value = int(value)
        if not isinstance(value, int):
            raise ConfigError(key, key + " must be a whole number")
        if value < a or value > b:
            raise ConfigError(key, "%s must be between %d and %d" % (key, a, b))
        return value
    if value not in a:
        raise ConfigError(key, "%s must be one of %s" % (key, ", ".join(a)))
    return value


def defaults():
    d = {}
    for k, spec in SPEC.items():
        d[k] = spec[0]
    return d


def good_path(path):
    return path.rsplit(".", 1)[0] + ".good"


def _crc(text):
    try:
        from binascii import crc32
    except ImportError:
        return None
    return crc32(text.encode()) & 0xFFFFFFFF


def encode(values):
    body = json.dumps(values)
    return body + "\n%08x" % (_crc(body) or 0)


def decode(text):
    """The settings dict in a file's text, or None when it is damaged."""
    if text is None:
        return None
    i = text.rfind("\n")
    if i > 0 and len(text) - i == 9:
        body = text[:i]
        try:
            want = int(text[i + 1:], 16)
        except ValueError:
            return None
        crc = _crc(body)
        if crc is not None and crc != want:
            return None
        text = body
    try:
        d = json.loads(text)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def load(cfg):
    """Read the saved file into cfg; a damaged or missing one falls back to the last good
    copy (reported in cfg.note). Unknown or invalid entries are dropped, never fatal."""
    good = good_path(cfg.path)
    text = _read(cfg.path)
    data = decode(text)
    fix = False
    if data is None:
        backup = decode(_read(good))
        if text is None and backup is None:
            return  # a first boot (or a factory reset): the defaults
        if text is not None:
            try:
                os.rename(cfg.path, cfg.path + ".bad")  # kept for a look, replaced below
            except OSError:
                pass
        if backup is not None:
            data = backup
            fix = True
            cfg.note = "settings file %s: the last good copy was restored" % (
                "missing" if text is None else "damaged")
        else:
            cfg.note = "settings file damaged and no good copy: defaults in use"
        print("config:", cfg.note)
    elif _read(good) is None:
        fix = True  # no good copy yet (a file from older firmware): make one
    for k, v in (data or {}).items():
        try:
            cfg._v[k] = check(k, v)
        except ConfigError as e:
            print("config: ignoring", k, e.msg)
    if fix:
        try:
            save(cfg)
        except OSError as e:
            print("config: could not rewrite the settings:", repr(e))


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    sync = getattr(os, "sync", None)  # the ESP32 port has it; littlefs commits on close anyway
    if sync is not None:
        sync()
    os.rename(tmp, path)


def save(cfg):
    text = encode(cfg._v)
    _write(cfg.path, text)
    if decode(_read(cfg.path)) is not None:  # read back: only a verified file becomes "good"
        _write(good_path(cfg.path), text)


def validate(cfg, changes):
    """The clean values of the known keys in changes that differ from cfg; raises
    ConfigError (naming the field) on the first bad value."""
    if not isinstance(changes, dict):
        raise ConfigError("", "settings must be a JSON object")
    clean = {}
    for k, v in changes.items():
        if k not in SPEC:
            continue  # unknown keys are ignored, as the C++ gateway does
        if k in SECRETS and v == SECRET_MASK:
            continue
        clean[k] = check(k, v)
    return dict((k, v) for k, v in clean.items() if cfg._v[k] != v)


def public(cfg):
    d = dict(cfg._v)
    for k in SECRETS:
        if d.get(k):
            d[k] = SECRET_MASK
    return d
