# config_rules.py: every setting's type and range, validation, and loading and atomic saving of
# the settings file. Used only when settings are read from flash or changed (rare): config.py
# imports it for that and drops it again, so this code does not stay in the ESP32's heap.
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
    "time_zone": ("Europe/London|GMT0BST,M3.5.0/1,M10.5.0", "s", 64, 0),
    "led_brightness": (128, "i", 0, 255),
    "mqtt_vehicle_range_miles": (False, "b", 0, 0),
    "rfid_enabled": (False, "b", 0, 0),
    "is_threephase": (False, "b", 0, 0),
}
SECRETS = ("pass", "ap_pass", "www_password", "emoncms_apikey", "mqtt_pass")


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
            if value != value or value != int(value):
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


def load(cfg):
    """Read the saved file into cfg; unknown or invalid entries are dropped, never fatal."""
    try:
        with open(cfg.path) as f:
            data = json.load(f)
    except OSError:
        return
    except ValueError as e:
        print("config: unreadable file ignored:", repr(e))
        return
    if not isinstance(data, dict):
        return
    for k, v in data.items():
        try:
            cfg._v[k] = check(k, v)
        except ConfigError as e:
            print("config: ignoring", k, e.msg)


def save(cfg):
    tmp = cfg.path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg._v, f)
    os.rename(tmp, cfg.path)


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
