# Every text setting is checked for its use (issue 11): host names per RFC 1123, MQTT topics
# per MQTT 3.1.1, no control characters or broken UTF-8 anywhere, an HTTP user without ":";
# numbers beyond the float range are a clear error. Through config.Config, as the web, MQTT
# and the settings file reach it. Runs under CPython (pytest) and MicroPython.
import config


def _refused(key, value):
    cfg = config.Config(None, defaults={"hostname": "openevse-test"})
    before = dict(cfg._v)
    try:
        cfg.update({key: value})
    except config.ConfigError as e:
        assert e.field == key and e.msg, (key, value)
        assert cfg._v == before
        return e.msg
    raise AssertionError("accepted %s=%r" % (key, value))


def _accepted(key, value):
    cfg = config.Config(None)
    cfg.update({key: value})
    assert cfg.get(key) == value, (key, value)


def test_hostname_is_an_rfc1123_label():
    for ok in ("openevse-7b2c", "a", "Garage2", "x" * 32):
        _accepted("hostname", ok)
    for bad in ("", "-a", "a-", "a b", "a.b", "a_b", "a\r\nb", "caf\u00e9", "a\"b", "a\u0000"):
        _refused("hostname", bad)


def test_control_characters_and_broken_utf8_refused_in_every_text_setting():
    import config_rules

    texts = [k for k, spec in config_rules.SPEC.items() if spec[1] == "s"]
    assert len(texts) >= 20
    for k in texts:
        for bad in ("a\r\nb", "a\tb", "a\u0000", "a\u007fb", "a\ud800b", "\udfff"):
            _refused(k, bad)


def test_publish_topics_have_no_wildcards():
    for k in ("mqtt_topic", "mqtt_announce_topic"):
        for bad in ("emon/#", "#", "emon/+/x", "a+b", "$SYS/x", "a/#/b"):
            msg = _refused(k, bad)
            assert "MQTT topic" in msg
        for ok in ("emon/openevse", "openevse/announce/7b2c", "a b/c", "\u00e9v"):
            _accepted(k, ok)


def test_feed_topics_are_valid_filters():
    for ok in ("emon/grid", "emon/+/grid", "emon/#", "+", "#"):
        _accepted("mqtt_grid_ie", ok)
    for bad in ("emon/#/x", "emon/gr+d", "a#", "$SYS/#"):
        _refused("mqtt_solar", bad)


def test_servers_users_keys():
    for ok in ("emonpi", "192.168.1.5", "broker.local", "[::1]"):
        _accepted("mqtt_server", ok)
    for bad in ("mqtt://emonpi", "a b", "host/path"):
        _refused("mqtt_server", bad)
    for ok in ("https://emoncms.org", "http://127.0.0.1:8081/emoncms", "emoncms.org"):
        _accepted("emoncms_server", ok)
    for bad in ("ftp://x", "http://", "http://a b/", "https://@evil/"):
        _refused("emoncms_server", bad)
    _refused("www_username", "adm:in")  # Basic auth splits at the first ":": a lock-out
    _accepted("www_password", "pa:ss word")
    _refused("emoncms_apikey", "key&node=x")
    _refused("emoncms_node", "a/b")
    _accepted("emoncms_fingerprint", "AA:bb:01")
    _refused("emoncms_fingerprint", "zz")
    _refused("ap_pass", "short")
    _accepted("ap_pass", "")
    _accepted("ap_pass", "longenough")
    _accepted("ssid", "x" * 32)
    _refused("ssid", "\u00e9" * 17)  # 34 bytes: an SSID is at most 32 bytes


def test_numbers_beyond_the_float_range_are_an_error():
    import config_rules

    ints = [k for k, spec in config_rules.SPEC.items() if spec[1] == "i"]
    for k in ints:
        for v in (float("inf"), float("-inf"), float("nan"), 1e300, "1e309"):
            _refused(k, v)


def test_a_saved_file_with_bad_values_loads_the_good_ones():
    import os

    path = "/tmp/oevse-test-config-rules.json"
    with open(path, "w") as f:
        f.write('{"hostname": "bad\\r\\nname", "mqtt_topic": "a/#", "mqtt_port": 1e999,'
                ' "mqtt_server": "emonpi"}')
    try:
        cfg = config.Config(path, defaults={"hostname": "openevse-1234", "mqtt_topic": "t"})
        cfg.load()
        assert cfg.get("hostname") == "openevse-1234" and cfg.get("mqtt_topic") == "t"
        assert cfg.get("mqtt_port") == 1883 and cfg.get("mqtt_server") == "emonpi"
    finally:
        os.remove(path)
