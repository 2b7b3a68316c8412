# MQTT 3.1.1 packet encode/decode. Plain assert functions: run under CPython pytest and
# MicroPython (MICROPYPATH=.frozen:firmware:boards/unix micropython tests/unit/test_mqtt_codec.py).
import sys

try:
    from net import mqtt
except ImportError:
    sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/firmware")
    from net import mqtt


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


def test_remaining_length_boundaries():
    # spec table 2.4
    cases = [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (2097151, b"\xff\xff\x7f"),
        (2097152, b"\x80\x80\x80\x01"),
        (268435455, b"\xff\xff\xff\x7f"),
    ]
    for n, enc in cases:
        assert mqtt.enc_len(n) == enc, n
        assert mqtt.dec_len(enc) == (n, len(enc)), n
        assert mqtt.dec_len(b"\xaa" + enc + b"\x00", 1) == (n, len(enc) + 1)
    assert _raises(mqtt.enc_len, 268435456)
    assert _raises(mqtt.enc_len, -1)
    assert _raises(mqtt.dec_len, b"\xff\xff\xff\xff\x01")  # 5 bytes
    assert _raises(mqtt.dec_len, b"\x80")  # truncated


def test_connect_minimal():
    p = mqtt.connect_pkt("gw", keepalive=30)
    body = b"\x00\x04MQTT\x04\x02\x00\x1e\x00\x02gw"
    assert p == b"\x10" + bytes((len(body),)) + body


def test_connect_user_password_will():
    p = mqtt.connect_pkt(
        b"id", "u", "pw", 60, (b"base/lwt", b"gone", True, 1)
    )
    assert p[0] == 0x10
    n, i = mqtt.dec_len(p, 1)
    assert n == len(p) - i
    body = p[i:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    flags = body[7]
    assert flags == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02
    assert body[8:10] == b"\x00\x3c"
    assert body[10:] == b"\x00\x02id\x00\x08base/lwt\x00\x04gone\x00\x01u\x00\x02pw"


def test_connect_user_without_password():
    p = mqtt.connect_pkt("c", "u", None, 0)
    assert p[2 + 7] == 0x80 | 0x02
    assert p.endswith(b"\x00\x01u")


def test_publish_qos0():
    p = mqtt.publish_pkt(b"a/b", b"42")
    assert p == b"\x30\x07\x00\x03a/b42"
    p = mqtt.publish_pkt("a/b", "42", retain=True)
    assert p == b"\x31\x07\x00\x03a/b42"


def test_publish_qos1_and_long():
    p = mqtt.publish_pkt(b"t", b"x", qos=1, pid=0x1234)
    assert p == b"\x32\x06\x00\x01t\x12\x34x"
    msg = b"m" * 300
    p = mqtt.publish_pkt(b"topic", msg)
    n, i = mqtt.dec_len(p, 1)
    assert i == 3 and n == 2 + 5 + 300 and len(p) == i + n
    assert p.endswith(msg)


def test_parse_publish_roundtrip():
    for retain in (False, True):
        p = mqtt.publish_pkt(b"emon/openevse/divertmode/set", b"2", retain)
        n, i = mqtt.dec_len(p, 1)
        topic, msg, ret, qos, pid = mqtt.parse_publish(p[0] & 0x0F, p[i:])
        assert topic == b"emon/openevse/divertmode/set"
        assert msg == b"2" and ret == retain and qos == 0 and pid == 0
    p = mqtt.publish_pkt(b"x/y", b"", qos=1, pid=7)
    n, i = mqtt.dec_len(p, 1)
    assert mqtt.parse_publish(p[0] & 0x0F, p[i:]) == (b"x/y", b"", False, 1, 7)
    assert _raises(mqtt.parse_publish, 0, b"\x00\x09abc")


def test_subscribe():
    p = mqtt.subscribe_pkt(1, [b"a/#"])
    assert p == b"\x82\x08\x00\x01\x00\x03a/#\x00"
    p = mqtt.subscribe_pkt(0x0102, [b"a", "b/+/c"])
    assert p == b"\x82\x0e\x01\x02\x00\x01a\x00\x00\x05b/+/c\x00"
    # a long topic needs a multi-byte remaining length
    t = b"x" * 200
    p = mqtt.subscribe_pkt(3, [t])
    assert p[:3] == b"\x82" + mqtt.enc_len(205)
    assert p.endswith(t + b"\x00")


def test_topic_validation():
    for ok in (b"a", b"a/b", b"#", b"a/#", b"+", b"a/+/c", b"+/+", b"emon/openevse/rapi/in/#"):
        assert mqtt.valid_filter(ok), ok
    for bad in (b"", b"a#", b"a/#/b", b"a+/b", b"a/b+", b"x\x00y"):
        assert not mqtt.valid_filter(bad), bad
    assert mqtt.valid_topic(b"emon/openevse/amp")
    assert mqtt.valid_topic(b"base/rapi/in/$GS")
    assert not mqtt.valid_topic(b"a/#")
    assert not mqtt.valid_topic(b"a/+")
    assert not mqtt.valid_topic(b"")


def test_outbox_drops_oldest():
    c = mqtt.MQTTClient("t", "127.0.0.1", outbox=3)
    for i in range(5):
        c.publish(b"t/%d" % i, b"v")
    assert c.stats["drops"] == 2
    assert [m[0] for m in c._outbox] == [b"t/2", b"t/3", b"t/4"]
    assert c.room() == 0
    assert c.publish(b"bad/#", b"v") is False
    try:
        c.subscribe(b"a/#/b")
        raise AssertionError("accepted a bad filter")
    except ValueError:
        pass
    c.subscribe(b"a/#")
    c.subscribe(b"a/#")
    assert c._subs == [b"a/#"]
