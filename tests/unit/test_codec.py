# RAPI codec tests; run under CPython pytest and under MicroPython (tests/run_mpy.py).
from rapi import codec


def test_encode_examples_from_spec():
    assert codec.encode("$GS") == b"$GS^30\r"
    assert codec.encode("GV") == b"$GV^35\r"
    assert codec.encode("$SC 16 V", 0x2A) == b"$SC 16 V :2A^0C\r"
    assert codec.encode("$SY 5 6") == b"$SY 5 6^2D\r"
    assert codec.encode("$FF B 0") == b"$FF B 0^56\r"


def test_encode_rejects_framing_and_overlong():
    for bad in ("$FP 0 0 a^b", "$FP 0 0 a*b", "$FP 0 0 a$b", "$FP 0 0 a\rb"):
        try:
            codec.encode(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted " + bad)
    try:
        codec.encode("$FP 0 0 " + "x" * 30)
    except ValueError:
        pass
    else:
        raise AssertionError("overlong accepted")


def test_parse_reply_with_seq():
    ln = codec.parse(b"$OK 16 :2A^6E")
    assert ln is not None and ln.ok and ln.fields == ["16"] and ln.seq == 0x2A


def test_parse_reply_forms():
    ln = codec.parse(b"$OK 03 3625 03 0140^27")
    assert ln.fields == ["03", "3625", "03", "0140"] and ln.seq == 0
    assert codec.parse(b"$NK^21").kind == codec.KIND_NK
    assert codec.parse(b"$OK 8.2.3 5.2.1^2F").fields == ["8.2.3", "5.2.1"]
    gi = codec.parse(b"$OK  ABCDEF0E123456^" + b"%02X" % codec.xor_sum(b"$OK  ABCDEF0E123456"))
    assert gi is not None and gi.ok


def test_parse_async():
    ln = codec.parse(b"$AT 03 03 16 0140^33")
    assert ln.kind == codec.KIND_ASYNC and ln.name == "AT"
    assert codec.parse(b"$AB 00 8.2.3^1E").fields == ["00", "8.2.3"]


def test_parse_additive_and_none():
    body = b"$OK 1 2"
    assert codec.parse(body + b"*%02X" % codec.add_sum(body)).fields == ["1", "2"]
    assert codec.parse(body).fields == ["1", "2"]
    assert codec.parse(body, require_checksum=True) is None


def test_parse_rejects_garbage():
    for bad in (b"", b"$", b"$OK^20x", b"$OK 1^FF", b"$XX 1^" + b"%02X" % codec.xor_sum(b"$XX 1"),
                b"$OK\xff^20", b"$OK 1 2 3 4 5 6 7 8 9 10 11", b"$OK :zz", b"hello"):
        assert codec.parse(bad) is None, bad


def test_parse_skips_noise_before_dollar():
    assert codec.parse(b"\x00\xffzz$OK^20").ok


def test_framer_splits_and_restarts():
    f = codec.Framer()
    out = f.feed(b"junk$OK 1^")
    assert out == []
    out = f.feed(b"xx$OK^20\r\n$AT 01 01 32 0200")
    assert out == [b"$OK^20"]
    out = f.feed(b"^00\r")
    assert out == [b"$AT 01 01 32 0200^00"]


def test_framer_drops_overlong():
    f = codec.Framer(maxlen=40)
    out = f.feed(b"$" + b"A" * 100 + b"\r$OK^20\r")
    # the overlong line's content is dropped; its CR still marks a damaged line (b"")
    assert out == [b"", b"$OK^20"] and f.overflows == 1


def test_framer_marks_a_line_whose_dollar_was_lost():
    f = codec.Framer()
    assert f.feed(b"$OK 1^00\r\n") == [b"$OK 1^00"]  # CR LF: no damage
    assert f.feed(b"#OK 6 32 16 16 :0A^33\r") == [b""]  # '$' flipped: an empty line
    assert f.feed(b"\r\r$NK^20\r") == [b"$NK^20"]
