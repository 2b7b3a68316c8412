# The settings file on flash: a damaged config.json (truncated, one bad byte, empty, missing)
# falls back to the last known good copy, says so, and writes a good file again; a file from
# older firmware (plain JSON) is still read. Runs under CPython and MicroPython.
import os

import config
import config_rules

PATH = "test_cfgfile_tmp.json"
GOOD = "test_cfgfile_tmp.good"
SETTINGS = {"ssid": "HomeNetwork", "pass": "correct horse", "www_username": "admin",
            "www_password": "s3cret", "mqtt_server": "emonpi"}


def _clean():
    for p in (PATH, PATH + ".tmp", PATH + ".bad", GOOD, GOOD + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def _saved():
    _clean()
    cfg = config.Config(PATH)
    cfg.update(SETTINGS)
    with open(PATH) as f:
        text = f.read()
    with open(GOOD) as f:
        assert f.read() == text
    return text


def _load():
    cfg = config.Config(PATH)
    cfg.load()
    return cfg


def _same(cfg):
    for k in SETTINGS:
        if cfg.get(k) != SETTINGS[k]:
            return False
    return True


def test_good_file_loads_without_a_note():
    try:
        _saved()
        cfg = _load()
        assert _same(cfg) and cfg.note == ""
    finally:
        _clean()


def test_damaged_file_falls_back_to_the_last_good_copy():
    try:
        text = _saved()
        i = text.index("HomeNetwork") + 4
        damaged = {
            "truncated": text[:len(text) // 2],
            "one bad byte": text[:i] + chr(ord(text[i]) ^ 0x20) + text[i + 1:],  # still JSON
            "empty": "",
            "crc line cut": text[:-3],
        }
        for what in damaged:
            with open(PATH, "w") as f:
                f.write(damaged[what])
            cfg = _load()
            assert _same(cfg), what  # admin login and WiFi credentials kept
            assert "damaged" in cfg.note and "restored" in cfg.note, (what, cfg.note)
            with open(PATH) as f:
                assert f.read() == text, what  # a good file again
            with open(PATH + ".bad") as f:
                assert f.read() == damaged[what], what  # the damaged one kept for a look
            assert _load().note == ""
    finally:
        _clean()


def test_missing_file_with_a_good_copy_is_restored_and_reported():
    try:
        _saved()
        os.remove(PATH)
        cfg = _load()
        assert _same(cfg) and "missing" in cfg.note
    finally:
        _clean()


def test_both_damaged_gives_defaults_and_says_so():
    try:
        _saved()
        for p in (PATH, GOOD):
            with open(p, "w") as f:
                f.write('{"ssid": "Home')
        cfg = _load()
        assert cfg.get("ssid") == "" and "defaults" in cfg.note
        cfg = config.Config(None)
        assert cfg.note == ""
    finally:
        _clean()


def test_plain_json_from_older_firmware_is_read_and_gets_a_good_copy():
    try:
        _clean()
        with open(PATH, "w") as f:
            f.write('{"ssid": "HomeNetwork", "mqtt_port": 1884}\n')
        cfg = _load()
        assert cfg.get("ssid") == "HomeNetwork" and cfg.get("mqtt_port") == 1884
        assert cfg.note == ""
        with open(GOOD) as f:
            assert config_rules.decode(f.read())["mqtt_port"] == 1884
    finally:
        _clean()


def test_a_leftover_temp_file_changes_nothing():
    # power lost while writing config.json.tmp: the rename never happened
    try:
        text = _saved()
        with open(PATH + ".tmp", "w") as f:
            f.write(text[:10])
        cfg = _load()
        assert _same(cfg) and cfg.note == ""
    finally:
        _clean()
