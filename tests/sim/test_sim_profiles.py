"""The virtual EVSE's controller profiles and the protocol details added with them."""
import pytest

from sim.controller import PROFILES
from sim_helpers import Rig, cmd


def test_profiles_report_their_versions():
    want = {"8.2.3": "8.2.3 5.2.1", "7.1.3": "7.1.3 5.1.3", "d9": "9.1.0 6.0.0",
            "noseq": "8.2.3 5.2.1", "timer": "8.2.3 5.2.1"}
    assert set(PROFILES) == set(want)
    for name, v in want.items():
        assert Rig(profile=name).send("$GV") == ["$OK " + v], name


def test_sc_with_four_tokens_is_refused():
    r = Rig()
    assert r.send("$SC 16 V X") == ["$NK"]            # rapi_proc.cpp: tokenCnt 2 or 3 only
    assert r.c.capacity == 32
    assert r.send("$SC 16 V X", seq=0x21) == ["$NK :21"]
    assert r.send("$SC 16 V", seq=0x22)[0] == "$OK 16 :22"  # the seq id is not a token


def test_echo_mode_checksum_rejection_ends_in_lf():
    r = Rig()
    r.send("$FF E 1")
    out = b"".join(r.c.feed(b"$GS^31\r", 0))
    assert out == b"$GS^31\r$NK^21\r\n"
    out = b"".join(r.c.feed(cmd("$FP 0 0 a b c d e f g h"), 0))
    assert out.endswith(b"$NK^21\r\n")


def test_713_lacks_gi_and_timer_flag_but_has_limits():
    r = Rig(profile="7.1.3", ev_connected=True)
    assert r.send("$GI", seq=0x10) == ["$NK :10"]
    assert r.send("$G5") == ["$NK"]
    r.send("$ST 22 0 6 0")
    assert not r.c.vflags & 0x1000                     # ECVF_TIMER_ON is 8.1.0+
    assert r.send("$GD") == ["$OK 22 0 6 0"]
    r.send("$ST 0 0 0 0")
    r.run(3000)
    assert r.c.state == 3
    assert r.send("$G3") == ["$OK 0"] and r.send("$GH") == ["$OK 0"]
    assert r.send("$S3 8") == ["$OK", "$AT 03 03 32 0150"]   # TIME_LIMIT is in CHANGED_TEST
    assert r.send("$G3") == ["$OK 8"]
    assert r.c.vflags & 0x0010                         # ECVF_TIME_LIMIT
    assert r.send("$SH 10")[0] == "$OK" and r.send("$GH") == ["$OK 10"]
    r.ev.unplug()
    r.run(1000)
    assert r.send("$G3") == ["$OK 0"]                  # limits end with the session
    assert r.send("$S3 8") == ["$NK"]                  # only in state B or C


def test_823_answers_nk_to_limits_and_go():
    r = Rig()
    for c in ("$G3", "$GH", "$GO", "$GZ", "$FC"):
        assert r.send(c, seq=0x44) == ["$NK :44"], c


def test_d9_commands_and_states():
    r = Rig(profile="d9", ev_kw={"start_delay_ms": 0})
    assert r.send("$GO") == ["$OK 800"]
    assert r.send("$FO 705") == ["$OK"] and r.send("$GO") == ["$OK 705"]
    assert r.send("$GR") == ["$OK 1 1 1"]
    assert r.send("$SR 3 0") == ["$OK"] and r.send("$GR") == ["$OK 1 1 0"]
    assert r.send("$SZ 9000") == ["$OK"] and r.send("$GZ") == ["$OK 0 5000"]
    r.charge()
    assert r.send("$GZ")[0].startswith("$OK 5000 ")
    out = r.c.inject_fault(0x10, r.t)                  # PP missing
    assert out and b"$AT 10 " in out[0]
    assert r.send("$GS")[0].startswith("$OK 10 ")
    assert not r.c.relay_closed
    r.c.eeprom.put("gfi_count", 3)
    assert r.send("$FC") == ["$OK"] and r.send("$GF") == ["$OK 0 0 0"]
    with pytest.raises(ValueError):
        Rig().c.inject_fault(0x10, 0)                  # not a state 8.2.3 has


def test_d9_line_buffer_is_40():
    r = Rig(profile="d9")
    body = "$FP 0 0 " + "a" * 28                       # 36 + ^XX = 39 chars: dropped on 8.2.3
    assert r.raw(cmd(body)) == ["$OK"]
    assert Rig().raw(cmd(body)) == []


def test_noseq_profile_never_echoes_and_counts_the_id_as_an_argument():
    r = Rig(profile="noseq")
    assert r.send("$GV", seq=0x2A) == ["$OK 8.2.3 5.2.1"]
    assert r.send("$GS", seq=0x2B)[0].startswith("$OK 01 ")
    assert r.send("$SC 16 V", seq=0x2C) == ["$NK"]    # 4 tokens
    assert r.send("$SY", seq=0x2D) == ["$NK 0 0 0"]    # ":2D" taken for a wrong ack cookie
    assert r.send("$SC 16 V") == ["$OK 16", "$AT 01 01 16 0200"]


def test_timer_profile_sleeps_outside_window_and_undoes_fe():
    r = Rig(profile="timer", ev_connected=True, boot=True)
    r.run(1500)
    assert r.c.state == 0xFE and r.c.vflags & 0x1000
    assert r.send("$GD") == ["$OK 22 0 6 0"]
    closures = r.c.relay_closures
    r.send("$FE")
    r.run(3000)
    assert r.c.state == 0xFE                           # CheckTime put it back to sleep
    assert r.c.relay_closures - closures <= 1
    # $F1 against the window sets the manual override: it stays awake and charges
    r.send("$F1")
    assert r.c.manual_override
    r.run(4000)
    assert r.c.state == 3
    # unplug ends the override; the timer then holds it asleep again
    r.ev.unplug()
    r.run(2000)
    assert not r.c.manual_override and r.c.state == 0xFE
    # $ST 0 0 0 0 cancels the timer: $FE now sticks
    assert r.send("$ST 0 0 0 0") == ["$OK"]
    assert not r.c.vflags & 0x1000
    r.send("$FE")
    r.run(2000)
    assert r.c.state == 1


def test_timer_inside_window_wakes_a_sleeping_evse():
    r = Rig(profile="timer", ev_connected=True)
    r.send("$S1 25 1 1 23 0 0")                        # 23:00, inside 22:00-06:00
    r.send("$FS")
    r.run(2500)
    assert r.c.state in (2, 3)
    r.send("$F1")                                      # a press to sleep inside the window
    assert r.c.state == 0xFE and r.c.manual_override
    r.run(3000)
    assert r.c.state == 0xFE


def test_relay_closures_and_refused_commands():
    r = Rig(ev_kw={"start_delay_ms": 0})
    r.charge()
    assert r.c.relay_closures == 1
    r.send("$FS")
    r.run(4000)
    r.c.refuse = {"$FE"}
    assert r.send("$FE", seq=0x31) == ["$NK :31"]
    r.run(2000)
    assert r.c.state == 0xFE and r.c.rejected["refused"] == 1
    assert r.c.log[-1]["reply"] == "$NK :31"
    r.c.refuse = set()
    r.send("$FE")
    r.run(3000)
    assert r.c.state == 3 and r.c.relay_closures == 2


def test_forced_unknown_state_and_clear():
    r = Rig(ev_connected=True)
    r.run(3000)
    out = r.c.force_state(0x42, r.t)
    assert b"$AT 42 " in out[0]
    r.run(1000)
    assert r.send("$GS")[0].startswith("$OK 42 ")
    r.c.clear_fault(r.t)
    r.run(2000)
    assert r.c.state == 3
