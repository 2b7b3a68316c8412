# EvseMonitor logic against a scripted controller (no I/O). Runs under both interpreters.
import asyncio

import claims as C
from compat import sleep_ms, ticks_ms
import config
from events import Bus
from rapi import codec
from rapi import model as M
from rapi.client import RapiTimeout
from rapi.monitor import EvseMonitor


def _line(text):
    body = text.encode()
    return codec.parse(body + b"^%02X" % codec.xor_sum(body))


class FakeRapi:
    """Answers like a charging controller; `lose` makes the next reply to a command
    vanish after the controller executed it (a reply lost on the wire); `refuse` answers
    $NK without executing; `wire` scripts what the link does to each send of one command
    ("drop": never arrives, a timeout; "lose": executed, reply lost; a Line: that reply,
    not executed); `timer` is the controller's delay timer ($GD), `clock` its RTC as
    (hour, minute)."""

    def __init__(self):
        self.on_async = None
        self.state, self.pilot, self.vflags = 3, 32, 0x0140
        self.max = 32  # saved maximum ($SC n without V)
        self.bad_lines = self.timeouts = 0  # the link's error counters (rapi/client.py)
        self.ids = None  # does the controller echo sequence ids (rapi/client.py)
        self.sent = []
        self.lose = set()
        self.refuse = set()
        self.wire = {}
        self.corrupt = {}  # command -> what arrives at the controller (a damaged line)
        self.ecf = 0x0001  # $GE settings word
        self.timer = [0, 0, 0, 0]
        self.clock = (12, 0)
        self.gf = [0, 0, 0]
        self.mv = 240000

    def silent_for_ms(self, now_ms=None, valid=False):
        return 0  # a lost line here is one lost line, never a silent controller

    def forget_ids(self):
        pass

    async def command(self, cmd, timeout_ms=None, retries=None):
        self.sent.append(cmd)
        out = self.wire[cmd].pop(0) if self.wire.get(cmd) else None
        if out == "drop":
            raise RapiTimeout(cmd)
        if out is not None and out != "lose":
            return out
        cmd = self.corrupt.pop(cmd, cmd)  # what the controller received instead
        name = cmd.split(" ")[0]
        args = cmd.split(" ")[1:]
        if name in self.refuse:
            reply = "$NK"
        elif name == "$SC":
            # rapi_proc.cpp SetCurrentCapacity: the number's leading digits; 2 tokens save
            # (up to the hardware maximum), 3 are volatile (up to the saved one); out of
            # range is clamped, applied and answered $NK with the result (rapi.md)
            d = ""
            for ch in args[0]:
                if not "0" <= ch <= "9":
                    break
                d += ch
            amps = int(d or "0")
            top = self.max if len(args) > 1 else 32
            ok = 6 <= amps <= top
            self.pilot = max(6, min(amps, top))
            if len(args) == 1:
                self.max = self.pilot
            reply = ("$OK %d" if ok else "$NK %d") % self.pilot
        elif name == "$GS":
            reply = "$OK %02x 10 03 %04x" % (self.state, self.vflags)
        elif name == "$GC":
            reply = "$OK 6 32 %d %d" % (self.pilot, self.max)
        elif name == "$GE":
            reply = "$OK 32 %04x" % self.ecf
        elif name == "$GF":
            reply = "$OK %x %x %x" % tuple(self.gf)
        elif name == "$GD":
            reply = "$OK %d %d %d %d" % tuple(self.timer)
        elif name == "$ST":
            self.timer = [int(a) for a in args]
            self.vflags = (self.vflags | 0x1000) if any(self.timer) else (self.vflags & ~0x1000)
            reply = "$OK"
        elif name == "$GT":
            reply = "$OK 25 1 1 %d %d 0" % self.clock
        elif name == "$SV":
            self.mv = int(args[0])
            reply = "$OK"
        elif cmd == "$FF B 0":
            self.ecf |= 0x8000
            reply = "$OK"
        elif name == "$FS":
            self.state = 254
            reply = "$OK"
        elif name == "$FD":
            self.state = 255
            reply = "$OK"
        elif name == "$FE":
            self.state = 3
            reply = "$OK"
        elif name == "$F1":
            self.state = 3 if self.state >= 254 else 254
            reply = "$OK"
        elif name == "$GY":
            reply = "$OK 5 6 0"
        else:
            reply = "$OK"
        if name in self.lose or out == "lose":
            self.lose.discard(name)
            raise RapiTimeout(cmd)
        return _line(reply)


def _monitor():
    bus = Bus()
    m = M.EvseModel(bus)
    cl = C.Claims(m.limits)
    rapi = FakeRapi()
    mon = EvseMonitor(rapi, m, cl, config.Config(), bus)
    m.evse_connected = True
    return mon, rapi, cl, m


def test_apply_sends_current_once_even_when_reply_lost():
    mon, rapi, cl, m = _monitor()
    cl.set(1, C.API, {"charge_current": 12})
    rapi.lose.add("$SC")
    asyncio.run(mon.apply())  # $SC executed, reply lost
    asyncio.run(mon.apply())  # re-reads $GC (twice: a change is confirmed) and sees 12
    asyncio.run(mon.apply())
    assert rapi.pilot == 12
    assert [c for c in rapi.sent if c.startswith("$SC")] == ["$SC 12 V"]
    assert m.pilot == 12


def test_apply_says_when_the_target_could_not_be_confirmed():
    # run() retries within RETRY_MS on False (a noisy link must not make Stop wait ticks)
    mon, rapi, cl, m = _monitor()
    assert asyncio.run(mon.apply()) is True
    cl.set(1, C.API, {"charge_current": 12})
    rapi.wire["$SC 12 V"] = ["lose"]
    rapi.wire["$GC"] = ["drop"]  # and the read-back too
    assert asyncio.run(mon.apply()) is False
    done = [asyncio.run(mon.apply()) for _ in range(3)]
    assert done[-1] is True and m.pilot == 12 and rapi.pilot == 12
    assert rapi.sent.count("$SC 12 V") == 1


def _ask_12_over(wire):
    """A charging controller asked for 12 A, the link doing `wire` to the "$SC 12 V"; one
    apply() that confirms it. Returns (rapi, model)."""
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon.apply())
    cl.set(1, C.API, {"charge_current": 12})
    rapi.wire["$SC 12 V"] = [wire]
    rapi.sent = []
    assert asyncio.run(mon.apply()) is True
    return rapi, m


def test_a_lost_reply_is_read_back_at_once_and_never_applied_twice():
    # "$SC 12 V" executed, its reply lost: one $GC read in the same step shows 12, which is
    # what was asked, so the pilot is known without a second read and nothing is resent
    rapi, m = _ask_12_over("lose")
    assert rapi.sent == ["$SC 12 V", "$GC"] and m.pilot == 12 and rapi.pilot == 12


def test_a_set_that_never_arrived_is_sent_again_once_the_read_back_shows_it():
    # "$SC 12 V" damaged on the way in (the controller never saw it) and the timeout: the
    # read-back shows the old pilot, so the set goes out again in the same step, not at
    # the next round of reads (on a noisy link seconds later)
    rapi, m = _ask_12_over("drop")
    assert rapi.sent == ["$SC 12 V", "$GC", "$SC 12 V"] and rapi.pilot == 12 and m.pilot == 12


def test_state_is_read_every_tick_while_lines_arrive_damaged():
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon.apply())  # the state known, so one read confirms it
    mon.hb_armed = True
    now = ticks_ms()
    mon._last_state_poll = mon._last_slow_poll = mon._last_energy_poll = now
    mon._bad_seen = rapi.bad_lines + rapi.timeouts

    def gs_after_poll():
        n = rapi.sent.count("$GS")
        asyncio.run(mon._poll(now))
        return rapi.sent.count("$GS") - n

    assert gs_after_poll() == 0  # a clean link: the 10 s state poll is not due
    rapi.bad_lines += 1  # a damaged line (maybe a lost $AT)
    assert gs_after_poll() == 1
    assert gs_after_poll() == 0
    rapi.timeouts += 2
    assert gs_after_poll() == 1


def test_apply_sleeps_and_wakes_with_state_claims():
    mon, rapi, cl, m = _monitor()
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    asyncio.run(mon.apply())
    assert rapi.state == 254 and "$FS" in rapi.sent and m.state == 254
    cl.release(C.CLIENT_MANUAL)
    asyncio.run(mon.apply())
    assert rapi.state == 3 and "$FE" in rapi.sent


def test_after_a_controller_reboot_a_pause_goes_back_before_the_read_out():
    # A controller that reboots runs enabled again. The gateway's pause must be back before
    # an EV asks for charge (the virtual EVSE's does 0.5 s after the pilot returns), not
    # after the whole read-out: $FS before the read-out's first command ($GE).
    mon, rapi, cl, m = _monitor()
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    asyncio.run(mon._connect(0))  # first contact: the read-out, then the target
    assert rapi.state == 254 and rapi.sent.index("$GE") < rapi.sent.index("$FS")
    for gone in ("$AB", "silence"):
        rapi.state = 2  # rebooted: enabled, the EV not drawing yet
        if gone == "$AB":
            mon._on_async(_line("$AB 00 8.2.3"))
        else:  # the reboot took longer than SILENT_MS: marked lost first
            mon._lost()
        rapi.sent = []
        asyncio.run(mon._connect(0))
        assert rapi.state == 254 and rapi.sent.index("$FS") < rapi.sent.index("$GE"), gone


def test_a_probe_lost_to_a_reboot_is_repeated_at_once_after_its_ab():
    # Marked lost during a reboot (it takes seconds), the gateway probes with $GV; one sent
    # while the controller boots is never answered, and the $AB comes meanwhile. The probe
    # goes again at once, not after the 1-8 s backoff (a paused charger would start).
    mon, rapi, cl, m = _monitor()
    mon._lost()
    rapi.boots = 0
    rapi.wire["$GV"] = ["drop", _line("$OK 8.2.3 5.2.1")]
    orig = rapi.command

    async def command(cmd, timeout_ms=None, retries=None):
        if cmd == "$GV" and len(rapi.wire.get("$GV", ())) == 2:
            rapi.boots += 1  # the $AB arrives while the first probe waits
        return await orig(cmd, timeout_ms, retries)

    rapi.command = command

    class Reached(Exception):
        pass

    async def connect(t0):
        raise Reached("connect")

    async def quiet(ms):
        raise Reached("backoff")

    mon._connect, mon._quiet = connect, quiet
    try:
        asyncio.run(mon.run())
    except Reached as e:
        what = str(e)
    assert what == "connect" and rapi.sent.count("$GV") == 2


def test_async_at_is_only_a_hint_confirmed_by_two_reads():
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon.apply())
    assert m.state == 3
    # a damaged $AT that slipped past the checksum claims state 2: not believed
    mon._on_async(_line("$AT 02 02 32 0100"))
    assert m.state == 3 and not mon._state_known
    asyncio.run(mon.apply())
    assert m.state == 3  # both $GS reads say 3


def test_button_and_wifi_requests_reach_their_handlers():
    mon, rapi, cl, m = _monitor()
    got = []
    mon.on_button = lambda p: got.append(("button", p))
    mon.on_wifi_request = lambda mode: got.append(("wifi", mode))
    mon._on_async(_line("$AN 0"))
    mon._on_async(_line("$WF 02"))
    assert got == [("button", "0"), ("wifi", "02")]


def test_boot_notice_forces_a_fresh_boot_sequence():
    mon, rapi, cl, m = _monitor()
    mon._need_boot = False
    mon.hb_armed = True
    mon._on_async(_line("$AB 00 8.2.3"))
    assert mon._need_boot and not mon.hb_armed and m.boots == 1


def test_unplug_releases_auto_release_claims():
    mon, rapi, cl, m = _monitor()
    cl.set(7, C.API, {"state": "disabled", "auto_release": True})
    asyncio.run(mon.apply())
    rapi.state, rapi.vflags = 1, 0x0000
    mon._state_known = False
    asyncio.run(mon.apply())
    assert m.vehicle == 0 and cl.get(7) is None


class SlowRapi(FakeRapi):
    """One command at a time (as the real client's lock) and each read takes 250 ms,
    like a noisy link where replies must be retried."""

    def __init__(self):
        super().__init__()
        self._lock = asyncio.Lock()

    async def command(self, cmd, timeout_ms=None, retries=None):
        async with self._lock:
            if cmd.startswith("$G"):
                await sleep_ms(250)
            return await FakeRapi.command(self, cmd, timeout_ms, retries)


def test_heartbeat_pulses_between_slow_polls():
    bus = Bus()
    m = M.EvseModel(bus)
    rapi = SlowRapi()
    mon = EvseMonitor(rapi, m, C.Claims(m.limits), config.Config(), bus)
    m.evse_connected = True
    mon._need_boot = False
    mon.hb_armed = mon.hb_ok = True

    async def main():
        await mon._read_gs()  # charging: each round reads $GG and $GC too
        mon._last_state_poll = mon._last_slow_poll = mon._last_energy_poll = 0
        hb = asyncio.create_task(mon.heartbeat())
        for i in range(3):
            await mon._poll(30000 * (i + 1))  # every read due: ~1.5 s per round
        hb.cancel()

    asyncio.run(main())
    reads = [i for i, c in enumerate(rapi.sent) if c.startswith("$G")]
    pulses = [i for i, c in enumerate(rapi.sent) if c == "$SY"]
    # pulses interleave with the polls instead of waiting for a round to end
    assert len(pulses) >= 3, rapi.sent
    assert any(reads[0] < p < reads[-1] for p in pulses), rapi.sent


def test_boot_takes_the_front_button_once():
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon._cold("boot"))
    assert rapi.sent.count("$FF B 0") == 1 and m.flags & 0x8000
    rapi.sent = []
    asyncio.run(mon._cold("boot"))  # a controller reboot: already the gateway's (EEPROM)
    assert "$FF B 0" not in rapi.sent


def test_a_saved_maximum_raised_by_a_damaged_command_is_set_back():
    # On a noisy link two bits flipped in one column turn "$SC 14 V" into a saved
    # "$SC 34\"V" (the XOR checksum still matches): the controller's own maximum jumps to
    # its hardware limit. The gateway puts the limit back.
    mon, rapi, cl, m = _monitor()
    rapi.max = 16
    asyncio.run(mon.apply())
    assert m.max_a == 16 and rapi.pilot == 16
    cl.set(1, C.API, {"charge_current": 14})
    rapi.corrupt["$SC 14 V"] = "$SC 32"  # what the damaged command did
    rapi.lose.add("$SC")  # and its reply lost: only $GC can tell
    rapi.sent = []
    asyncio.run(mon.apply())
    # read back in the same step, and set back at once on that one read
    assert rapi.sent == ["$SC 14 V", "$GC", "$SC 16"] and rapi.max == 16
    asyncio.run(mon.apply())
    asyncio.run(mon.apply())
    assert m.max_a == 16 and rapi.pilot == 14
    # a lower maximum (the safe way) is simply followed
    rapi.max = 10
    mon._pilot_known = False
    asyncio.run(mon.apply())
    asyncio.run(mon.apply())
    assert m.max_a == 10 and rapi.pilot == 10 and rapi.sent.count("$SC 16") == 1


def _damaged_save():
    """A controller with its maximum at 16 A, and the next "$SC 14 V" of the gateway's arriving
    as the saved '$SC 34"V' ("1"/"3" and " "/'"': one column, so the XOR checksum holds)."""
    mon, rapi, cl, m = _monitor()
    rapi.max = 16
    asyncio.run(mon.apply())
    cl.set(1, C.API, {"charge_current": 14})
    rapi.corrupt["$SC 14 V"] = '$SC 34"V'
    rapi.sent = []
    return mon, rapi, cl, m


def test_a_raised_maximum_shown_by_the_echo_is_set_back_in_the_same_step():
    # The damaged command's own reply ("$NK 32" to "$SC 14 V", checksum good) already
    # shows the saved maximum went up: the set-back goes out at once, before any $GC read,
    # so the pilot stays above the limit for one round trip, not for seconds of re-reads.
    mon, rapi, cl, m = _damaged_save()
    asyncio.run(mon.apply())  # the controller clamps, saves 32 and answers "$NK 32"
    assert rapi.max == 16 and rapi.pilot <= 16
    assert rapi.sent[:2] == ["$SC 14 V", "$SC 16"]
    asyncio.run(mon.apply())
    asyncio.run(mon.apply())
    assert rapi.pilot == 14 and m.pilot == 14 and rapi.sent.count("$SC 16") == 1


def test_after_a_set_without_its_echo_the_pilot_is_read_before_the_state():
    # the damaged save's reply lost, and the read-back too: the next pass reads $GC before
    # $GS (the state may wait; a pilot above the limit may not) and sets the maximum back
    mon, rapi, cl, m = _damaged_save()
    rapi.lose.add("$SC")
    rapi.wire["$GC"] = ["drop"]
    asyncio.run(mon.apply())
    assert rapi.max == 32
    mon._state_known = False  # as after an $AT that showed a change
    rapi.sent = []
    asyncio.run(mon.apply())
    assert rapi.sent[:2] == ["$GC", "$SC 16"] and rapi.max == 16


def test_the_set_back_is_tried_again_when_its_reply_is_lost():
    mon, rapi, cl, m = _damaged_save()
    rapi.wire["$SC 16"] = ["lose"]
    asyncio.run(mon.apply())
    # the first set-back executed but its reply was lost: sent again, same value
    assert rapi.sent[:3] == ["$SC 14 V", "$SC 16", "$SC 16"] and rapi.max == 16


def test_a_current_lost_on_the_wire_is_not_backed_off_as_refused():
    # a noisy link: "$SC 12 V" never reaches the controller three times in a row. That is
    # not a controller that refuses or undoes it (those get 2, 4 ... s between tries), so
    # the fourth try still goes out at once.
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon.apply())
    rapi.wire["$SC 12 V"] = ["drop"] * 3
    cl.set(1, C.API, {"charge_current": 12})
    for _ in range(4):
        asyncio.run(mon.apply())
    assert rapi.sent.count("$SC 12 V") == 4 and rapi.pilot == 12 and m.set_retry == ""


def test_a_current_rejected_for_its_checksum_is_not_backed_off_but_a_refusal_is():
    # With sequence ids a bare "$NK" (no id) is the controller's checksum rejection, what
    # the client hands back after its resends: the wire, not the controller. "$NK :ss" is
    # a refusal and counts.
    mon, rapi, cl, m = _monitor()
    rapi.ids = True
    asyncio.run(mon.apply())
    rapi.wire["$SC 12 V"] = [_line("$NK")] * 3
    cl.set(1, C.API, {"charge_current": 12})
    for _ in range(4):
        asyncio.run(mon.apply())
    assert rapi.sent.count("$SC 12 V") == 4 and rapi.pilot == 12 and m.set_retry == ""
    # a refusal with the id echoed backs off
    refused = codec.parse(b"$NK :07^" + b"%02X" % codec.xor_sum(b"$NK :07"))
    assert refused is not None and refused.seq == 7 and not refused.ok
    rapi.wire["$SC 9 V"] = [refused] * 4
    cl.set(1, C.API, {"charge_current": 9})
    for _ in range(4):
        asyncio.run(mon.apply())
    assert rapi.sent.count("$SC 9 V") < 4 and m.set_retry.startswith("$SC 9 V")


def test_a_maximum_changed_at_the_controller_is_followed():
    # the controller's own setup menu, no $SC of ours in between (tests/system/
    # test_controllers.py changes it behind the gateway's back the same way)
    mon, rapi, cl, m = _monitor()
    rapi.max = 16
    asyncio.run(mon.apply())
    rapi.max = 20
    mon._pilot_known = False
    asyncio.run(mon.apply())
    asyncio.run(mon.apply())
    assert m.max_a == 20 and not [c for c in rapi.sent if c.startswith("$SC") and "V" not in c]


def test_pause_uses_disabled_sends_fd_and_resumes():
    mon, rapi, cl, m = _monitor()
    mon.config.update({"pause_uses_disabled": True})
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    asyncio.run(mon.apply())
    assert "$FD" in rapi.sent and "$FS" not in rapi.sent and rapi.state == 255
    cl.release(C.CLIENT_MANUAL)
    asyncio.run(mon.apply())
    assert "$FE" in rapi.sent
    assert rapi.state == 3
    mon.config.update({"pause_uses_disabled": False})
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    asyncio.run(mon.apply())
    assert rapi.state == 254 and rapi.sent.count("$FS") == 1


def test_unknown_state_is_not_charging_and_resume_follows_it():
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon.apply())
    m.set("amp_ma", 16000)
    rapi.state = 0x10  # a D9 "PP missing", or any code rapi.md does not list
    mon._on_async(_line("$AT 10 00 32 0100"))
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    asyncio.run(mon.apply())
    assert m.state == 0x10 and not m.charging and m.amp_ma == 0
    assert m.status()["state"] == 16
    assert "$FS" not in rapi.sent  # a state the gateway does not know is left alone
    rapi.state = 254  # the controller leaves it (asleep)
    mon._on_async(_line("$AT fe 02 32 0100"))
    cl.release(C.CLIENT_MANUAL)
    asyncio.run(mon.apply())
    assert rapi.sent.count("$FE") == 1 and rapi.state == 3 and m.state == 3


def test_refused_set_backs_off_instead_of_resending_every_second():
    mon, rapi, cl, m = _monitor()
    t = [0]
    mon.clock = lambda: t[0]
    rapi.state = 254
    rapi.refuse.add("$FE")
    sends = []
    for i in range(60):  # one apply a second for a minute, as the monitor's tick
        mon._state_known = False
        asyncio.run(mon.apply())
        sends.append(rapi.sent.count("$FE"))
        t[0] += 1000
    assert sends[-1] <= 8, sends  # 0, 1, 3, 7, 15, 31 s ... not 60
    assert sends[0] == 1 and sends[2] == 2  # the second try waits
    assert m.set_retry.startswith("$FE ")
    rapi.refuse.clear()
    t[0] += 70000
    mon._state_known = False
    asyncio.run(mon.apply())
    assert rapi.state == 3
    t[0] += 80000
    asyncio.run(mon.apply())
    assert m.set_retry == ""


def test_fault_counters_are_read_again_after_a_fault():
    mon, rapi, cl, m = _monitor()
    asyncio.run(mon._cold("boot"))
    assert m.gfci == 0
    rapi.state, rapi.gf = 6, [1, 0, 0]  # a GFCI trip: the controller counts it
    mon._state_known = False
    asyncio.run(mon.apply())
    assert m.state == 6 and mon._faults
    mon._last_state_poll = mon._last_slow_poll = mon._last_energy_poll = 0
    asyncio.run(mon._poll(0))
    assert m.gfci == 1 and m.status()["gfcicount"] == 1 and not mon._faults


def test_voltage_feed_goes_to_the_controller():
    mon, rapi, cl, m = _monitor()
    mon.set_voltage(230)
    asyncio.run(mon.apply())
    assert "$SV 230000" in rapi.sent and rapi.mv == 230000 and m.voltage_mv == 230000
    n = len(rapi.sent)
    asyncio.run(mon.apply())
    assert not [c for c in rapi.sent[n:] if c.startswith("$SV")]  # sent once
    mon._on_async(_line("$AB 00 8.2.3"))  # $SV is volatile: again after a controller boot
    asyncio.run(mon.apply())
    assert rapi.sent.count("$SV 230000") == 2
    mon.set_voltage(5000)  # not a mains voltage: ignored
    assert mon._feed_mv == 230000


def test_delay_timer_is_taken_over_without_a_start_in_between():
    mon, rapi, cl, m = _monitor()
    rapi.timer, rapi.clock, rapi.state = [22, 0, 6, 0], (12, 30), 254
    rapi.vflags |= 0x1000
    asyncio.run(mon._cold("boot"))
    # the window is now the gateway's, the controller's timer cleared (read back)
    assert "$ST 0 0 0 0" in rapi.sent and rapi.timer == [0, 0, 0, 0]
    assert mon.config.get("delay_timer") == "22:00-06:00" and m.timer == "22:00-06:00"
    assert not mon.ctl_timer
    # outside the window its claim pauses (priority 10): no $FE at any point
    props, win = cl.target()
    assert props["state"] == "disabled" and win["state"] == C.CLIENT_SCHEDULE
    asyncio.run(mon.apply())
    assert "$FE" not in rapi.sent and rapi.state == 254


def test_delay_timer_left_to_the_controller_is_never_fought():
    mon, rapi, cl, m = _monitor()
    mon.config.update({"delay_timer_owner": "controller"})
    rapi.timer, rapi.state = [22, 0, 6, 0], 254
    rapi.vflags |= 0x1000
    asyncio.run(mon._cold("boot"))
    assert mon.ctl_timer and m.timer == "22:00-06:00" and "$ST 0 0 0 0" not in rapi.sent
    for i in range(3):  # no claim on the state: the timer decides, nothing is sent
        mon._state_known = False
        asyncio.run(mon.apply())
    assert not [c for c in rapi.sent if c in ("$FE", "$FS", "$F1")]
    cl.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "active"})  # the user starts a charge
    asyncio.run(mon.apply())
    assert rapi.sent.count("$F1") == 1 and "$FE" not in rapi.sent and rapi.state == 3
