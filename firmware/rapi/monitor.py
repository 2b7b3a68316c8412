# EvseMonitor: the service that owns the RAPI link. It detects the controller ($GV),
# reads its settings, polls at the C++ gateway's cadence, pulses the heartbeat, follows
# $AT/$AB, flags a silent controller and applies the claims' target ($FE/$FS/$FD, $SC n V,
# $SV). Rare jobs (the boot read-out, the delay timer, fault counters) live in rapi/boot.py,
# imported for each run and dropped after.
import asyncio

from compat import drop, sleep_ms, ticks_add, ticks_diff, ticks_ms, wait_for_ms
from rapi import model as M
from rapi.client import RapiError

TICK_MS = 1000
STATE_POLL_MS = 10000  # $GS safety net for a lost $AT (C++: 30 s)
SLOW_POLL_MS = 30000  # $GP temperatures, $GU energy when idle
SILENT_MS = 3000  # no line at all for this long -> controller lost
GARBLED_MS = 20000  # lines, but none valid for this long -> lost too (at 5 % byte noise
# a valid line comes every second or two; this is a link that no longer carries data)
RETRY_MS = 200  # a target not confirmed (a noisy link) is tried again this soon
PULSE_MS = 1000  # $SY pulse period (C++: 1 s; the controller's default interval is 5 s)
PROBE_MAX_MS = 8000  # no controller: $GV after 1, 2, 4, 8, 8 ... s (C++: every 10 s)
STICK_MS = 10000  # a set needed again this soon after the last try did not take effect
HB_ACK = 165


class EvseMonitor:
    def __init__(self, client, model, claims, config, bus):
        self.rapi = client
        self.m = model
        self.claims = claims
        self.config = config
        self.bus = bus
        client.on_async = self._on_async
        self._wake = asyncio.Event()
        self._need_boot = True
        self._read_out = False  # the controller was read out once (rapi/boot.py)
        self._pilot_known = False
        self._state_known = False
        self._last_state_poll = None
        self._last_slow_poll = None
        self._last_energy_poll = None
        self._polled = ticks_ms()
        self._bad_seen = 0
        self.hb_ok = False
        self.hb_armed = False
        self.max_known = 0  # the controller's saved maximum as the gateway knows it (A)
        self._sc_v = False  # an $SC n V went out since the last good $GC read
        self._bo = {}  # set backoff: "s" state / "c" current / "v" voltage -> [cmd, ms, n]
        self.clock = ticks_ms  # the tests step their own
        self._faults = False  # a fault was seen: read the trip counters again
        self.ctl_timer = False  # the controller runs its own delay timer and we leave it so
        self._need_timer = False
        self._timer_flag = False  # the controller reports its timer in vflags (8.1.0+)
        self._pud = config.get("pause_uses_disabled")
        self._feed_mv = 0  # voltage from a feed (POST /status, MQTT); wins over the setting
        self._sv_mv = 0  # what $SV last set (volatile: 0 after a controller boot)
        self.on_unplug = []  # callbacks fn() at the end of a session
        self.on_button = None  # fn(press) for $AN: "0" short, "1" long
        self.on_wifi_request = None  # fn(mode) for $WF: "00" AP, "01" client, "02" AP default
        config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "heartbeat_interval" in keys or "heartbeat_current" in keys:
            self.hb_armed = False
        if "pause_uses_disabled" in keys:
            self._pud = self.config.get("pause_uses_disabled")
        if "delay_timer_owner" in keys:
            self._need_timer = True
        self._wake.set()

    def poke(self):
        """Re-evaluate the target now (called when claims change)."""
        self._wake.set()

    def set_voltage(self, volts):
        """Mains voltage from a feed: sent to the controller ($SV, volatile) so that its power
        and energy figures use it, as the C++ gateway does."""
        if 50 <= volts <= 500:
            self._feed_mv = int(volts) * 1000
            self._wake.set()

    # -- async lines (runs inside the reader task: no awaiting here) ---------------
    def _on_async(self, ln):
        # XOR checksums miss two flips in the same bit column, so a line that parses can
        # still be wrong. An $AT that changes anything is only a hint: the monitor then
        # reads the controller twice ($GS, $GC) and believes what both reads agree on.
        m = self.m
        if ln.name == "AT":
            v = M.parse_at(ln.fields)
            if v is None:
                return
            if v[0] != m.state or v[3] != m.vflags:
                self._state_known = False
            if v[2] != m.pilot:
                self._pilot_known = False
            self._wake.set()
        elif ln.name == "AB":
            print("rapi: controller boot", ln.fields)
            m.boots += 1
            self.hb_armed = False
            self._forget()
            self._wake.set()
        elif ln.name == "ST":  # legacy async state
            self._state_known = False
            self._wake.set()
        elif ln.name == "AN":  # front button pressed while the controller lets us handle it
            if self.on_button:
                self.on_button(ln.fields[0] if ln.fields else "0")
        elif ln.name == "WF":  # very long press: the user asks for the access point (00/02) or client (01)
            if self.on_wifi_request and ln.fields:
                self.on_wifi_request(ln.fields[0])

    def _apply_state(self, state, pilot_state, vflags):
        m = self.m
        was_connected = m.vehicle
        if state != m.state and M.is_fault(state):
            self._faults = True  # the controller counts every trip: $GF is read again
        m.set("state", state)
        m.pilot_state = pilot_state
        m.set("vflags", vflags)
        if vflags & M.VF_TIMER_ON:
            self._timer_flag = True
        self._state_known = True
        if state != 3 and m.amp_ma:
            m.set("amp_ma", 0)
        if was_connected and not m.vehicle:
            # the controller adds the session to its total ($GU) only now: read it soon, so
            # the page's total does not dip between the session and the new total
            self._last_energy_poll = None
            self._session_end()

    def _session_end(self):
        self.claims.release_auto()
        for fn in self.on_unplug:
            try:
                fn()
            except Exception as e:
                print("monitor: unplug hook", repr(e))

    # -- commands ------------------------------------------------------------------
    async def _cmd(self, cmd, retries=None):
        """Command returning the reply Line; None on timeout (logged by counters)."""
        try:
            return await self.rapi.command(cmd, retries=retries)
        except RapiError:  # a timeout or a damaged reply
            # checked here, not only once per tick: on a silent link a tick of reads with
            # their retries takes seconds, and "lost" came 8 s late
            self._check_silent()
            return None

    async def _probe(self):
        ln = await self._cmd("$GV", 0)
        if ln is None or not ln.ok or len(ln.fields) < 2:
            return False
        if M.parse_version(ln.fields[1]) is None:
            return False
        self.m.fw = ln.fields[0]
        self.m.protocol = ln.fields[1]
        return True

    async def _cold(self, fn, *args):
        """Run a rare job from rapi/boot.py; the module is dropped after."""
        from rapi import boot

        try:
            return await getattr(boot, fn)(self, *args)
        finally:
            drop("rapi.boot")

    async def _gc(self, retries=None):
        ln = await self._cmd("$GC", retries)
        if ln and ln.ok:
            v = M.parse_ints(ln.fields, 4)
            # the saved maximum may exceed the hardware one: $SC n M lowers only the latter
            if v and 6 <= v[0] <= v[2] <= v[1] <= 80 and v[3] <= 80:
                return v
        return None

    async def _read_gc(self):
        """Read $GC; a changed pilot is believed only when a second read agrees (a raised
        saved maximum after our $SC is acted on at once)."""
        v = await self._gc()
        if v is None:
            return False
        m = self.m
        raised = self.max_known and v[3] > self.max_known and self._sc_v
        if not raised and (v[0], v[1], v[2], v[3]) != (m.min_a, m.hw_max_a, m.pilot, m.max_a):
            w = await self._gc()
            if w != v:
                return False
        if raised:
            # The saved maximum rose right after an "$SC n V" of ours: on a noisy link two
            # bits flipped in one column pass the XOR checksum and make it a saved "$SC" of
            # up to the hardware maximum. The limit is put back (rapi/boot.py). A change
            # made at the controller's own menu (no $SC of ours in between) is followed.
            # One read is enough to act on: on a link this noisy two good reads in a row
            # are rare, and a wrong alarm costs one write of the value already saved.
            await self._cold("restore_max", v[3])
            return False
        self._sc_v = False
        self.max_known = v[3]
        m.min_a, m.hw_max_a, m.max_a = v[0], v[1], v[3]
        if v[2] != m.pilot:
            # a pilot we may not have asked for (the controller throttles when hot, and lifts it):
            # read the temperatures now, so /status says why
            self._last_slow_poll = None
        m.set("pilot", v[2])
        self._pilot_known = True
        return True

    async def _gs(self):
        ln = await self._cmd("$GS")
        if ln and ln.ok:
            v = M.parse_gs(ln.fields)
            # any state code is taken (D9 and later controllers add some): the double read
            # below guards against corruption, actionable() against acting on a strange one
            if v and 0 <= v[0] <= 255:
                return v
        return None

    async def _read_gs(self):
        """Read $GS; a changed state or flags word is believed only when a second read
        agrees, so a corrupted line that slips past the checksum is never reported."""
        v = await self._gs()
        if v is None:
            return False
        m = self.m
        if v[0] != m.state or v[3] != m.vflags:
            w = await self._gs()
            if w is None or (w[0], w[2], w[3]) != (v[0], v[2], v[3]):
                return False
            v = w
        self._apply_state(v[0], v[2], v[3])
        m.set("elapsed", v[1])
        return True

    async def _read_gg(self):
        ln = await self._cmd("$GG")
        if ln and ln.ok:
            v = M.parse_ints(ln.fields, 2)
            if v:
                self.m.set("amp_ma", max(0, v[0]) if self.m.charging else 0)
                if v[1] > 0:
                    self.m.set("voltage_mv", v[1])

    async def _read_gp(self):
        ln = await self._cmd("$GP")
        if ln and ln.ok:
            v = M.parse_ints(ln.fields, 3)
            if v:
                m = self.m
                m.set("temps", list(v))
                t = m.temp
                if t is not None and (m.temp_max == M.TEMP_NONE or t > m.temp_max):
                    m.set("temp_max", t)

    async def _read_gu(self):
        ln = await self._cmd("$GU")
        if ln and ln.ok:
            v = M.parse_ints(ln.fields, 2)
            if v:
                self.m.set("session_ws", v[0])
                self.m.set("total_wh", v[1])

    async def _pulse(self):
        # A pulse only restarts the controller's timer, so repeating one is harmless.
        try:
            ln = await self.rapi.command("$SY", retries=2 if self.m.evse_connected else 0)
        except RapiError:
            return
        if not ln.ok and ln.fields:
            await self._cmd("$SY %d" % HB_ACK)

    async def heartbeat(self):
        """Forever task: pulse $SY every second, as the C++ gateway does. It runs apart
        from the polls so that a noisy link, where one tick of polls can take seconds,
        never starves the controller's supervision into its fallback current. It goes on
        while the link is down or a boot sequence runs: supervision lives in the
        controller's EEPROM, and only a reboot ($AB) clears hb_armed until re-armed."""
        # Paced from when each pulse was due, not from when the last one finished: a pulse
        # that waited for the line or was resent does not push the next one later.
        due = ticks_ms()
        while True:
            due = ticks_add(due, PULSE_MS)
            left = ticks_diff(due, ticks_ms())
            if left < 0:  # fell behind: start again from now rather than pulse in a burst
                due = ticks_ms()
                left = 0
            await sleep_ms(left)
            if self.hb_armed and self.hb_ok:
                await self._pulse()

    # -- target --------------------------------------------------------------------
    def _may(self, key, cmd):
        """May this set go out now? A set that is needed again within STICK_MS of its last
        try did not take effect (refused, or undone by the controller): the next try waits
        2, 4 ... 64 s, and /status set_retry says so, instead of a resend every second."""
        now = self.clock()
        b = self._bo.get(key)
        n = 0
        if b is not None and b[0] == cmd:
            gap = ticks_diff(now, b[1])
            wait = 1000 << b[2] if b[2] else 0
            if gap < wait:
                return False
            if gap < wait + STICK_MS:
                n = min(b[2] + 1, 6)
        self._bo[key] = [cmd, now, n]
        if n:
            self.m.set("set_retry", "%s %d %d" % (cmd, n, 1 << n))
            print("rapi: %s did not take effect, try %d, next in %d s" % (cmd, n + 1, 1 << n))
        return True

    def _state_cmd(self, on):
        """The command that moves the controller to the target state, or None."""
        st = self.m.state
        if on:
            return "$FE" if st >= 254 else None
        if self._pud:  # pause_uses_disabled: $FD (hard stop) instead of sleep
            return "$FD" if st != 255 else None
        return "$FS" if st < 254 else None

    async def apply(self, back=False):
        """Bring the controller to the claims' target. Sends a set command only when the
        controller's known state differs; after an unanswered set it re-reads first, so a
        command whose reply was lost is not applied twice. False when the controller's
        state or pilot could not be confirmed (a noisy link): run() tries again soon.
        back: the controller answers again but is not yet marked connected."""
        m = self.m
        if not m.evse_connected and not back:
            return True
        sent = False
        mv = self._feed_mv or self.config.get("voltage") * 1000
        if mv and mv != self._sv_mv and self._may("v", "$SV %d" % mv):
            sent = True
            ln = await self._cmd("$SV %d" % mv)
            if ln is not None and ln.ok:
                self._sv_mv = mv
                m.set("voltage_mv", mv)
        if self._sc_v and not self._pilot_known:
            # an $SC of ours went without its echo: a damaged one may have saved a pilot
            # above the limit, so $GC is read before the state (one read acts on that)
            await self._read_gc()
        if not self._state_known and not await self._read_gs():
            return False
        if not M.actionable(m.state):
            return True  # starting, a fault or a state we do not know: not ours to change
        props, win = self.claims.target()
        on = props["state"] == "active"
        cmd = self._state_cmd(on)
        if cmd and self.ctl_timer and cmd != "$FD" and m.state != 255:
            # the controller's own delay timer is left in charge: without a claim on the
            # state it decides; a claim goes through its manual override ($F1, a button
            # press), since it would undo $FE / $FS within a second. $F1 toggles, so it
            # goes out only when a fresh reading still differs from the target.
            cmd = None
            if "state" in win and await self._read_gs() and self._state_cmd(on):
                cmd = "$F1"
        # $F1 toggles: which way it is meant to go is part of what is backed off
        if cmd and self._may("s", cmd if cmd != "$F1" else "$F1 " + props["state"]):
            sent = True
            ln = await self._cmd(cmd)
            self._state_known = False
            if ln and ln.ok:
                await self._read_gs()
        if not self._pilot_known and not await self._read_gc():
            return False
        # after that read: the controller's maximum may have changed the target
        amps = self.claims.target()[0]["charge_current"]
        if amps != m.pilot and 6 <= amps <= m.hw_max_a:
            cmd = "$SC %d V" % amps
            if self._may("c", cmd):
                sent = True
                self._pilot_known = False
                self._sc_v = True
                ln = await self._cmd(cmd)
                # only the expected echo is trusted; anything else is re-read (and confirmed)
                if ln is not None and ln.ok and ln.fields == [str(amps)]:
                    m.set("pilot", amps)
                    self._pilot_known = True
                    # the right echo: not a command damaged into a saved maximum (that
                    # echoes another number, which a reply would need a second damage to hide)
                    self._sc_v = False
                else:
                    n = M.parse_ints(ln.fields, 1) if ln is not None else None
                    raised = n and self.max_known and n[0] > self.max_known
                    if raised or ln is None or (self.rapi.ids and not ln.ok and not ln.seq):
                        # the wire, not a controller that refuses or undoes the set: the
                        # reply lost, a bare $NK (the controller's checksum rejection), or
                        # a reply (checksum good; "$NK n" when the damaged number was
                        # clamped to the hardware maximum, rapi.md) showing a pilot above
                        # the saved maximum. This try does not count toward the backoff.
                        self._bo.pop("c", None)
                        # a damaged command may have saved a higher maximum: set it back
                        # now, or read back now if the reply was lost, not after two $GC
                        # reads at the next round, which on a noisy link took seconds
                        if raised:
                            await self._cold("restore_max", n[0])
                        else:
                            await self._cold("read_back_sc", amps)
        if not sent and m.set_retry:
            for b in self._bo.values():
                if ticks_diff(self.clock(), b[1]) < STICK_MS + (1000 << b[2]):
                    break
            else:
                m.set("set_retry", "")
        m.commit()
        return self._state_known and self._pilot_known

    # -- the task ------------------------------------------------------------------
    def _check_silent(self):
        if not self.m.evse_connected:
            return
        silent = self.rapi.silent_for_ms()
        garbled = self.rapi.silent_for_ms(valid=True)
        if (silent is not None and silent > SILENT_MS) or \
                (garbled is not None and garbled > GARBLED_MS):
            self._lost()

    def _lost(self):
        m = self.m
        if m.rapi_connected or m.evse_connected:
            print("rapi: controller silent, marked disconnected")
        m.set("rapi_connected", False)
        m.set("evse_connected", False)
        m.set("amp_ma", 0)
        m.commit()
        self._forget()  # a silence may be a reboot
        self.rapi.forget_ids()

    def _forget(self):
        """The controller restarted, or may have: read it out again; nothing known of its
        state, pilot or voltage, and its refusals from before say nothing now (no backoff)."""
        self._need_boot = True
        self._state_known = self._pilot_known = False
        self._sv_mv = 0
        self._bo = {}

    async def _quiet(self, ms):
        """Wait before the next probe; as soon as the controller is heard from (a reply to a
        heartbeat pulse, an $AT, an $AB) the wait ends."""
        heard = self.rapi.last_heard_ms
        while ms > 0 and self.rapi.last_heard_ms == heard:
            await sleep_ms(100)
            ms -= 100

    async def run(self):
        m = self.m
        wait = 0
        while True:
            t0 = ticks_ms()
            tick = TICK_MS
            self._wake.clear()
            if self._need_boot or not m.evse_connected:
                boots = self.rapi.boots
                if await self._probe():
                    wait = 0
                    await self._connect(t0)
                elif self.rapi.boots != boots:
                    # the probe went out while the controller booted, and its $AB came
                    # meanwhile: it is up now, so probe again at once, not after the backoff
                    continue
                else:
                    if m.evse_connected:
                        self._lost()
                    # no answer: probe again after 1, 2, 4, 8 s, not at the tick's pace
                    wait = min(PROBE_MAX_MS, wait * 2 or 1000)
                    await self._quiet(wait)
                    continue
            else:
                # a new target goes out before the routine polls; one that could not be
                # confirmed is tried again within RETRY_MS (Stop on a noisy link must not
                # wait for whole ticks of polls), the polls at least every 2 ticks
                if not await self.apply():
                    tick = RETRY_MS
                if tick == TICK_MS or ticks_diff(t0, self._polled) >= 2 * TICK_MS:
                    self._polled = t0
                    await self._poll(t0)
                self._check_silent()
            left = tick - ticks_diff(ticks_ms(), t0)
            if left > 0:
                try:
                    await wait_for_ms(self._wake.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def _connect(self, t0):
        """The controller answered $GV: read it out and bring it to the target."""
        m = self.m
        self._need_boot = False
        if self._read_out:
            # Back after a reboot ($AB), or after a silence (a reboot takes seconds): the
            # controller runs enabled again and its volatile current is gone. The target
            # goes back first, before the read-out and the import of rapi/boot.py: a paused
            # charger must not start charging in between (the virtual EVSE's EV asks for
            # charge 0.5 s after the pilot comes back). At first contact the read-out comes
            # first, as ever.
            await self.apply(True)
        if await self._cold("boot"):
            self._read_out = True
            m.set("rapi_connected", True)
            m.set("evse_connected", True)
            m.commit()
            print("rapi: controller", m.fw, "protocol", m.protocol)
            self._last_state_poll = self._last_slow_poll = t0
            await self.apply()
        else:
            self._need_boot = True

    async def _poll(self, now):
        m = self.m
        if not self.hb_armed:
            await self._cold("heartbeat_setup")
        if self._faults:
            await self._cold("read_faults")
        timer = m.vflags & M.VF_TIMER_ON
        if self._need_timer or (timer and not self.ctl_timer) or \
                (self.ctl_timer and self._timer_flag and not timer):
            await self._cold("delay_timer")
        await self._apply_if_poked()
        if m.charging:
            await self._read_gg()
            await self._apply_if_poked()
            await self._read_gc()
        # an $AT lost on a noisy link would leave the state unknown for STATE_POLL_MS:
        # while lines arrive damaged, the state is read every tick instead
        bad = self.rapi.bad_lines + self.rapi.timeouts
        noisy = bad != self._bad_seen
        self._bad_seen = bad
        if noisy or ticks_diff(now, self._last_state_poll) >= STATE_POLL_MS:
            self._last_state_poll = now
            await self._read_gs()
        energy_ms = 5000 if m.charging else SLOW_POLL_MS
        if self._last_energy_poll is None or ticks_diff(now, self._last_energy_poll) >= energy_ms:
            self._last_energy_poll = now
            await self._read_gu()
        if self._last_slow_poll is None or ticks_diff(now, self._last_slow_poll) >= SLOW_POLL_MS:
            self._last_slow_poll = now
            await self._read_gp()
        m.commit()

    async def _apply_if_poked(self):
        # On a noisy link a tick of polls can take seconds: do not make a new target wait.
        if self._wake.is_set():
            self._wake.clear()
            await self.apply()
