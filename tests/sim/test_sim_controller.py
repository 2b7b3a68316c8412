"""Pure controller/EV model tests with a fake clock (no I/O)."""
import pytest

from sim_helpers import Rig, cmd, check, xor_hex, add_hex


# ---------------------------------------------------------------- framing
def test_checksum_forms_all_accepted():
    r = Rig()
    assert cmd("$GV") == b"$GV^35\r"                       # spec example
    assert r.send("$GV") == ["$OK 8.2.3 5.2.1"]
    assert r.send("$GV", form="*") == ["$OK 8.2.3 5.2.1"]
    assert r.send("$GV", form="") == ["$OK 8.2.3 5.2.1"]
    assert r.raw(b"$GS*BE\r") == r.raw(b"$GS^30\r")
    # lowercase hex digits accepted in commands; replies always uppercase
    assert r.raw(b"$SC 16 V :2A^0c\r") == ["$OK 16 :2A", "$AT 01 01 16 0200"]
    out = r.c.feed(b"$GV^35\r", r.t)
    assert out == [b"$OK 8.2.3 5.2.1^2F\r"]


def test_bad_checksum_nk21_nothing_executed_no_seq():
    r = Rig()
    writes = r.c.eeprom.writes
    assert r.raw(b"$GS^31\r") == ["$NK"]
    assert r.c.feed(b"$GS^31\r", 0) == [b"$NK^21\r"]
    line = b"$SC 10 :2A*00\r"
    assert r.c.feed(line, 0) == [b"$NK^21\r"]                 # no seq id, no $AT
    assert r.c.capacity == 32 and r.c.eeprom.writes == writes
    assert r.c.log == []
    assert r.c.rejected["bad_checksum"] == 3


def test_sequence_id_echo():
    r = Rig()
    assert r.send("$SC 16 V", seq=0x2A)[0] == "$OK 16 :2A"
    assert r.c.feed(cmd("$SC 16 V", 0x2A), 0) == [b"$OK 16 :2A^6E\r"]   # spec example
    assert r.send("$SC 4 V", seq=0x10)[0] == "$NK 6 :10"
    assert r.send("$XX", seq=0x11) == ["$NK :11"]                      # unknown: NK + seq
    assert r.send("$GV", seq=0) == ["$OK 8.2.3 5.2.1"]                 # 00 = none
    assert r.raw(cmd("$GS:1A"))[0].startswith("$OK 01 ")               # no space: no seq
    assert r.c.log[-1]["seq"] is None
    assert r.c.log[0]["seq"] == 0x2A


def test_line_framing_rules():
    r = Rig()
    # noise before '$' ignored; '$' restarts a partial line; LF after CR harmless
    assert r.raw(b"garbage\n$GS 1 2$GV^35\r\n") == ["$OK 8.2.3 5.2.1"]
    # $GSX acts as $GS (checksum covers the X)
    assert r.raw(cmd("$GSX"))[0].startswith("$OK 01 ")
    # LF is not a terminator
    assert r.raw(b"$GV\n") == []


def test_overlong_line_silently_dropped():
    r = Rig()
    body = "$FP 0 0 " + "a" * 20                   # 28 chars + ^XX = 31: accepted
    line = cmd(body)
    assert len(line) == 32
    assert r.raw(line) == ["$OK"]
    body = "$FP 0 0 " + "a" * 21                   # 32 chars before CR: dropped
    assert r.raw(cmd(body)) == []
    assert r.c.rejected["overlong"] == 1
    assert r.send("$GV") == ["$OK 8.2.3 5.2.1"]     # and the link recovers


def test_too_many_tokens_nk21():
    r = Rig()
    assert r.send("$FP 0 0 a b c d e f g h") == ["$NK"]     # 11 tokens
    assert r.c.feed(cmd("$FP 0 0 a b c d e f g h"), 0) == [b"$NK^21\r"]
    assert r.c.feed(cmd("$FP 0 0 a b c d e f g h", 0x12), 0) == [b"$NK^21\r"]
    assert r.send("$FP 0 0 a b c d e f g") == ["$OK"]        # 10 tokens
    assert r.c.lcd_text[(0, 0)] == "a b c d e f g"
    assert r.send("$FP 0 0 a b c d e f", seq=0x12) == ["$OK :12"]   # 9 + seq


def test_unknown_and_not_compiled_commands_nk():
    r = Rig()
    for c in ("$S3 8", "$SH 10", "$G3", "$GH", "$SB", "$SE 0", "$S2 1", "$ZZ", "$SL A", "$S4 1"):
        assert r.send(c, seq=0x33) == ["$NK :33"], c
    assert r.c.command_counts["$SB"] == 1


# ---------------------------------------------------------------- get commands
def test_get_command_formats():
    r = Rig(mcu_id="ABCDEF0102FF0A")
    assert r.c.feed(b"$GI^2A\r", 0) == [b"$OK  ABCDEF0102FF0A^55\r"]    # spec example
    assert r.send("$GE") == ["$OK 32 0021"]
    assert r.send("$GC") == ["$OK 6 32 32 32"]
    assert r.send("$GG") == ["$OK 0 240000"]
    assert r.send("$GP") == ["$OK 250 260 -2560"]
    assert r.send("$GU") == ["$OK 0 0"]
    assert r.send("$GF") == ["$OK 0 0 0"]
    assert r.send("$GA") == ["$OK 220 0"]
    assert r.send("$GD") == ["$OK 0 0 0 0"]
    assert r.send("$GY") == ["$OK 0 0 0"]
    assert r.send("$G0") == ["$OK 0"]
    assert r.send("$GS") == ["$OK 01 0 01 0200"]
    assert r.send("$GT") == ["$OK 25 1 1 0 0 0"]
    assert r.send("$S1 24 5 6 14 30 0") == ["$OK"]
    r.run(2000)
    assert r.send("$GT") == ["$OK 24 5 6 14 30 2"]


def test_settings_and_features():
    r = Rig()
    assert r.send("$FF B 0") == ["$OK"]
    assert r.send("$GE") == ["$OK 32 8021"]
    assert r.send("$FF B 1") == ["$OK"]
    assert r.send("$FF X 1") == ["$NK"]
    assert r.send("$FF G 2") == ["$NK"]
    assert r.send("$F0 0") == ["$OK"] and not r.c.lcd_updates
    assert r.send("$FB 2") == ["$OK"] and r.c.backlight == 2
    assert r.send("$SV 230000") == ["$OK"]
    assert r.send("$GG") == ["$OK 0 230000"]
    assert r.send("$SK 1234") == ["$OK"]
    assert r.send("$GU") == ["$OK 0 1234"]
    assert r.send("$ST 22 0 6 0") == ["$OK"]
    assert r.send("$GD") == ["$OK 22 0 6 0"]
    assert r.send("$SL 1") == ["$OK", "$AT 01 01 12 1200"]
    assert r.send("$GC") == ["$OK 6 24 12 12"]
    assert r.send("$GG") == ["$OK 0 120000"]
    assert r.send("$SL 2")[0] == "$OK"
    assert r.send("$GC") == ["$OK 6 32 32 32"]


def test_ff_e_answers_like_823_and_turns_echo_on():
    r = Rig()
    assert r.send("$FF E 0") == ["$OK"]          # 8.2.3 bug: 0 also turns echo on
    out = r.c.feed(b"$GV^35\r", 0)
    assert b"".join(out) == b"$GV^35\r$OK 8.2.3 5.2.1^2F\r\n"
    r.c.request_reboot(0, 0)
    r.run(1000)
    assert r.c.feed(b"$GV^35\r", r.t) == [b"$OK 8.2.3 5.2.1^2F\r"]


# ---------------------------------------------------------------- $SC
def test_sc_clamping_and_eeprom_writes():
    r = Rig()
    e = r.c.eeprom
    w0 = e.writes
    assert r.send("$SC 16 V") == ["$OK 16", "$AT 01 01 16 0200"]
    assert e.writes == w0                                        # volatile: no write
    assert r.send("$GC") == ["$OK 6 32 16 32"]
    assert r.c.feed(cmd("$SC 90 V"), 0)[0] == b"$NK 32^00\r"     # spec example
    assert r.send("$SC 4")[0] == "$NK 6"
    assert e.writes == w0 + 1 and e.get("max_l2") == 6           # saved (clamped)
    assert r.send("$SC 20")[0] == "$OK 20"
    assert e.writes == w0 + 2
    assert r.send("$SC 25 V")[0] == "$NK 20"                     # volatile max = EEPROM max
    assert r.send("$SC 40")[0] == "$NK 32"                       # saved max = hw max
    assert r.send("$SC 10 V")[0] == "$OK 10"
    assert r.send("$SC 10 N")[0] == "$OK 10"                     # any 3rd token = volatile
    assert e.writes == w0 + 3
    assert r.send("$GE") == ["$OK 10 0021"]
    # M: hardware max, written once
    assert r.send("$SC 16 M") == ["$OK 16"]               # capacity 10 < 16
    assert e.get("hw_max") == 16 and e.get("hw_max_set")
    assert r.send("$SC 20 M") == ["$NK 16"]
    assert r.send("$GC")[0] == "$OK 6 16 10 32"
    assert r.send("$SC 30")[0] == "$NK 16"


def test_sc_reply_then_at_while_charging():
    r = Rig(ev_connected=True)
    r.run(3000)
    assert r.c.state == 3
    assert r.c.feed(cmd("$SC 16 V", 0x2A), r.t) == [b"$OK 16 :2A^6E\r", b"$AT 03 03 16 0140^33\r"]
    assert r.send("$SC 16 V") == ["$OK 16"]                       # unchanged: no $AT


# ---------------------------------------------------------------- heartbeat
def test_heartbeat_expiry_and_ack():
    r = Rig(ev_connected=True)
    r.run(3000)
    assert r.c.feed(b"$SY 5 6^2D\r", r.t) == [b"$OK 5 6 0^33\r"]
    w = r.c.eeprom.writes
    assert r.send("$SC 20 V")[0] == "$OK 20"
    for _ in range(4):                       # pulses keep it alive
        assert r.run(1000) == []
        assert r.send("$SY") == ["$OK 5 6 0"]
    assert r.c.capacity == 20
    ats = r.run(5100)                        # no pulse for > 5 s
    assert "$AT 03 03 6 0140" in ats
    assert r.c.capacity == 6 and r.c.hs_trigger == 2
    assert r.c.feed(b"$SY^2E\r", r.t) == [b"$NK 5 6 2^30\r"]
    assert r.send("$SY 99") == ["$NK 5 6 2"]                  # wrong cookie
    out = r.c.feed(b"$SY 165^3C\r", r.t)
    assert out[0] == b"$OK 5 6 1^32\r"
    assert check(out[1]) == "$AT 03 03 32 0140"               # EEPROM max, not 20
    assert r.send("$SY 165") == ["$OK 5 6 1"]
    assert r.c.eeprom.writes == w                             # acks/pulses write nothing
    assert r.send("$SY 0 0") == ["$OK 0 0 0"]
    r.run(20000)
    assert r.c.capacity == 32


def test_heartbeat_not_checked_while_sleeping_and_survives_reboot():
    r = Rig()
    assert r.send("$SY 2 6") == ["$OK 2 6 0"]
    assert r.send("$FS")[0] == "$OK"
    r.run(5000)
    assert r.c.hs_trigger == 0 and r.c.capacity == 32
    r.c.request_reboot(r.t, 0)
    r.run(1000)
    assert r.send("$GY") == ["$OK 2 6 0"]                      # settings from EEPROM
    r.run(2500)
    assert r.c.hs_trigger == 2 and r.c.capacity == 6


def test_heartbeat_interval_zero_restores():
    r = Rig()
    r.send("$SY 1 10")
    r.run(1500)
    assert r.c.capacity == 10
    assert r.send("$SY 0 0")[:2] == ["$OK 0 0 0", "$AT 01 01 32 0200"]


# ---------------------------------------------------------------- EV / states
def test_plug_charge_ramp_unplug_energy():
    r = Rig(ev_kw={"start_delay_ms": 2000, "ramp_ma_per_s": 1000})
    assert r.send("$SC 16 V")[0] == "$OK 16"
    r.ev.plug()
    ats = r.run(3000)
    assert ats[0] == "$AT 02 02 16 0100"
    assert ats[1] == "$AT 03 03 16 0140"
    assert r.c.relay_closed
    assert r.send("$GG") == ["$OK 0 240000"]                  # EV waits ~2 s
    r.run(3000)
    ma = int(r.send("$GG")[0].split()[1])
    assert 500 <= ma <= 3000                                 # ramping ~1 A/s
    r.run(20000)
    assert r.send("$GG") == ["$OK 16000 240000"]             # reached the pilot
    st = r.send("$GS")[0].split()
    assert st[1] == "03" and st[3] == "03" and int(st[4], 16) & 0x0140 == 0x0140
    assert int(st[2]) >= 20
    # pilot change followed after a lag
    r.send("$SC 10 V")
    r.run(500)
    assert r.c.ev.current_ma == 16000
    r.run(1500)
    assert r.c.ev.current_ma == 10000
    r.run(3600 * 1000 - 30000, step=1000)
    ws = int(r.send("$GU")[0].split()[1])
    assert ws > 2_300_000
    w = r.c.eeprom.writes
    r.ev.unplug()
    ats = r.run(300)
    assert ats == ["$AT 01 01 10 0200"]
    assert r.c.eeprom.writes == w + 1
    assert r.send("$GU") == ["$OK %d %d" % (r.c.session_ws, r.c.session_ws // 3600)]
    assert r.c.eeprom.get("total_wh") == r.c.session_ws // 3600 >= 2300
    r.ev.plug()
    r.run(500)
    assert r.send("$GU")[0] == "$OK 0 %d" % r.c.eeprom.get("total_wh")   # reset on connect


def test_draw_ratio_and_full():
    r = Rig(ev_kw={"start_delay_ms": 0, "ramp_ma_per_s": 100000})
    r.ev.draw_ratio = 0.95
    r.charge()
    r.run(2000)
    assert r.c.ammeter_ma() == 30400
    r.ev.set_full(True)
    ats = r.run(1000)
    assert ats == ["$AT 02 02 32 0100"]
    assert not r.c.relay_closed and r.send("$GG") == ["$OK 0 240000"]


def test_sleep_disable_enable():
    r = Rig(ev_kw={"start_delay_ms": 0, "ramp_ma_per_s": 100000})
    r.charge()
    r.run(1000)
    assert r.send("$FS") == ["$OK", "$AT fe 03 32 0140"]
    ats = r.run(3500)
    # pilot B reported at once; the relay opens a bit later (CHARGING_ON alone
    # is not in ECVF_CHANGED_TEST, so no extra $AT)
    assert ats == ["$AT fe 02 32 0140"]
    assert not r.c.relay_closed and r.c.vflags & 0x0040 == 0
    assert r.send("$GS")[0].split()[1] == "fe"
    r.ev.unplug()
    assert r.run(300) == ["$AT fe 01 32 0200"]              # sleeping still reports plug
    r.ev.plug()
    assert r.run(500) == ["$AT fe 02 32 0100"]
    assert r.send("$FD") == ["$OK", "$AT ff 02 32 0100"]
    assert r.send("$G0") == ["$OK 2"]
    r.ev.unplug()
    assert r.run(1000) == []                                 # disabled: no pilot reading
    r.ev.plug()
    assert r.run(1000) == []
    assert r.send("$FE") == ["$OK"]                          # state 0 is not reported
    ats = r.run(2000)
    assert ats == ["$AT 02 02 32 0100", "$AT 03 03 32 0140"]
    assert r.send("$F1")[:2] == ["$OK", "$AT fe 03 32 0140"]   # button toggles sleep


def test_fr_reboot_sequence_and_persistence():
    r = Rig(ev_connected=True)
    r.run(3000)
    r.send("$SY 5 6")
    r.send("$SC 20")
    r.send("$SC 10 V")
    r.send("$SV 230000")
    w = r.c.eeprom.writes
    assert r.send("$FR") == []                               # no reply, no $AT
    assert r.raw(b"$GV^35\r") == []                          # ignored while rebooting
    assert r.run(5000) == []                                 # 2.5 s + 3 s (relay closed)
    ats = r.run(1000)
    assert ats[:3] == ["$AT 00 00 20 0200", "$AB 00 8.2.3", "$AT 02 02 20 0100"]
    assert r.c.boots == 2
    assert r.send("$GC") == ["$OK 6 32 20 20"]                # volatile 10 A gone
    assert r.send("$GG") == ["$OK 0 240000"]                 # $SV volatile
    assert r.send("$GY") == ["$OK 5 6 0"]
    assert r.c.eeprom.writes == w
    assert r.c.log[-1]["name"] == "$GY"
    assert r.c.command_counts["$FR"] == 1


def test_cold_boot_sequence():
    r = Rig(boot=True)
    assert r.run(1000) == ["$AT 00 00 32 0200", "$AB 00 8.2.3", "$AT 01 01 32 0200"]


def test_boot_with_timer_outside_window_sleeps():
    r = Rig()
    r.send("$S1 25 1 1 12 0 0")
    r.send("$ST 22 0 6 0")
    r.c.request_reboot(r.t, 0)
    ats = r.run(1000)
    assert ats[1] == "$AB fe 8.2.3"
    assert r.c.state == 0xFE and r.c.vflags & 0x1000


def test_fault_injection_gfci_and_clear():
    r = Rig(ev_kw={"start_delay_ms": 0})
    r.charge()
    out = [check(x) for x in r.c.inject_fault(6, r.t)]
    assert out == ["$AT 06 03 32 0180"]                     # GFI_TRIPPED, relay open
    assert not r.c.relay_closed
    assert r.send("$GF") == ["$OK 1 0 0"]
    assert r.send("$GS")[0].split()[1] == "06"
    ats = [check(x) for x in r.c.clear_fault(r.t)]
    ats += r.run(2000)
    assert ats[-1].startswith("$AT 03 03 32 ")
    r.c.inject_fault(8, r.t)
    assert r.c.vflags & 0x0002
    assert r.send("$FP 0 0 x") == ["$NK"]                    # hard fault
    assert r.send("$GF") == ["$OK 1 0 1"]
    with pytest.raises(ValueError):
        r.c.inject_fault(3, r.t)


def test_over_temperature():
    r = Rig()
    r.c.set_temps([700, None, None])
    assert r.run(200) == ["$AT 01 01 16 0200"]
    assert r.send("$SC 32 V")[0] == "$NK 16"                  # no raise while hot
    r.c.set_temps([850])
    assert r.run(200) == ["$AT 0a 01 16 0200"]
    r.c.set_temps([300])
    assert r.run(300) == ["$AT 01 01 32 0200"]


def test_command_log_counts():
    r = Rig()
    r.send("$GS", seq=1)
    r.send("$GS", seq=2)
    r.send("$SC 8 V", seq=3)
    assert r.c.command_counts == {"$GS": 2, "$SC": 1}
    assert [(e["name"], e["args"], e["seq"]) for e in r.c.log] == [
        ("$GS", [], 1), ("$GS", [], 2), ("$SC", ["8", "V"], 3)]
    assert r.c.log[2]["reply"] == "$OK 8 :03"


def test_helper_checksums_match_spec_table():
    # the independent helper agrees with the spec's worked examples
    table = {"$FE": ("27", "AF"), "$FR": ("30", "BC"), "$SC 32 M": ("78", "AC"),
             "$GY": ("3A", "C4"), "$FF B 0": ("56", "62")}
    for text, (x, a) in table.items():
        assert (xor_hex(text), add_hex(text)) == (x, a)


def test_front_button_native_then_taken_by_the_gateway():
    r = Rig()
    r.charge()
    # button enabled: a short press toggles sleep/enable in the controller itself
    out = [check(x) for x in r.c.press_button("short", r.t)]
    assert r.c.state == 254 and out and out[0].startswith("$AT fe ")
    r.c.press_button("short", r.t)
    r.run(3000)
    assert r.c.state == 3
    # $FF B 0 hands it to the gateway (EEPROM): presses become $AN, the state is untouched
    writes = r.c.eeprom.writes
    assert r.send("$FF B 0") == ["$OK"]
    assert r.c.eeprom.writes == writes + 1 and r.c.eeprom.get("flags") & 0x8000
    assert r.press("short") == ["$AN 0"]
    assert r.press("long") == ["$AN 1"]
    assert r.c.state == 3
    assert r.press("verylong") == ["$WF 02"]
    assert [e["name"] for e in r.c.log[-3:]] == ["!button-short", "!button-long", "!button-verylong"]
    with pytest.raises(ValueError):
        r.c.press_button("double", r.t)
