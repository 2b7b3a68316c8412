"""Pure model of an OpenEVSE controller: firmware 8.2.3, RAPI 5.2.1 by default, and the
other controllers in the field as selectable profiles (PROFILES).

Follows /work/shared/reference/rapi.md and the controller source it was written from
(OpenEVSE/open_evse: rapi_proc.cpp, main.cpp DelayTimer, J1772EvseController.cpp). No I/O
and no clock: every entry point takes ``now_ms``. Bytes go in through ``feed()``; ``feed()``
and ``tick()`` return the list of byte strings the controller writes (replies, async
``$AT``/``$AB`` lines, echoed bytes).

The default profile is a PlatformIO EU-like build: no TIME_LIMIT/CHARGE_LIMIT
($S3 $SH $G3 $GH -> $NK), no BOOTLOCK ($SB -> $NK), no AUTH_LOCK,
NO_AUTOSVCLEVEL ($SL A -> $NK), no VOLTMETER, no TEMPERATURE_MONITORING_NY ($GO -> $NK).
"""

import datetime

FW_VERSION = "8.2.3"
RAPI_VERSION = "5.2.1"

# Build features a command needs (rapi_proc.cpp #ifdefs, rapi.md 2.1-2.6); a command whose
# feature the profile lacks is answered $NK like an unknown one.
NEEDS = {
    "GI": "MCU_ID",            # V7.1.5
    "G5": "MENNEKES", "S5": "MENNEKES",                       # V8.1.0
    "G3": "TIME_LIMIT", "S3": "TIME_LIMIT",                   # Arduino-CLI builds only
    "GH": "CHARGE_LIMIT", "SH": "CHARGE_LIMIT",
    "GZ": "D9", "GR": "D9", "SR": "D9", "SZ": "D9", "FC": "D9", "FO": "D9", "GO": "D9",
}
_COMMON = {"MCU_ID", "MENNEKES", "TIMER_FLAG", "SEQ_ID"}
# name: what differs from 8.2.3. fw/rapi as $GV prints them; features as above plus
# TIMER_FLAG (ECVF_TIMER_ON in vflags, V8.1.0+) and SEQ_ID (the :SS token is stripped and
# echoed: compiled in since D6.0.0, a build option RAPI_SEQUENCE_ID before).
PROFILES = {
    # the default: 8.2.3 as the OpenEVSE shop ships it (PlatformIO EU build)
    "8.2.3": {"fw": "8.2.3", "rapi": "5.2.1", "features": _COMMON},
    # an older controller still common in the field: 7.1.3 (the firmware in the python-openevse-http
    # fixtures), RAPI 5.1.3, an Arduino-CLI build (TIME_LIMIT, CHARGE_LIMIT): no $GI (7.1.5),
    # no Mennekes commands and no ECVF_TIMER_ON (8.1.0)
    "7.1.3": {"fw": "7.1.3", "rapi": "5.1.3", "features": {"SEQ_ID", "TIME_LIMIT", "CHARGE_LIMIT"}},
    # a D9 / "linco-work" controller, RAPI 6.0.0 (rapi.md 2.6): states 0x0f-0x11, $GZ $GR $SR $SZ
    # $FC $FO $GO, a 40-byte line buffer (SAMD)
    "d9": {"fw": "9.1.0", "rapi": "6.0.0", "features": _COMMON | {"D9"}, "buflen": 40},
    # 8.2.3 built without RAPI_SEQUENCE_ID (or an independent implementation that ignores ids):
    # ":SS" is then an ordinary argument, never echoed, and counts as a token
    "noseq": {"fw": "8.2.3", "rapi": "5.2.1", "features": _COMMON - {"SEQ_ID"}},
    # 8.2.3 with its delay timer set from the menu (22:00-06:00) and the RTC at noon: it sleeps
    # outside the window and undoes $FE within a second (DelayTimer::CheckTime)
    "timer": {"fw": "8.2.3", "rapi": "5.2.1", "features": _COMMON, "timer": [22, 0, 6, 0],
              "rtc": (2025, 1, 1, 12, 0, 0)},
}

# --- EVSE states (rapi.md 4.1) ---------------------------------------------
STATE_UNKNOWN = 0x00
STATE_A = 0x01
STATE_B = 0x02
STATE_C = 0x03
STATE_D = 0x04
STATE_DIODE_CHK_FAILED = 0x05
STATE_GFCI_FAULT = 0x06
STATE_NO_GROUND = 0x07
STATE_STUCK_RELAY = 0x08
STATE_GFI_TEST_FAILED = 0x09
STATE_OVER_TEMPERATURE = 0x0A
STATE_OVER_CURRENT = 0x0B
STATE_RELAY_CLOSURE_FAULT = 0x0E
STATE_PP_SHORTED = 0x0F             # D9 only (rapi.md 4.1)
STATE_PP_MISSING = 0x10
STATE_EEPROM_FAILURE = 0x11
STATE_SLEEPING = 0xFE
STATE_DISABLED = 0xFF
FAULT_FIRST = 0x04
FAULT_LAST = 0x0E
FAULT_LAST_D9 = 0x11

FAULT_NAMES = {
    "vent": 0x04, "diode": 0x05, "gfci": 0x06, "gfi": 0x06, "noground": 0x07,
    "no_ground": 0x07, "ground": 0x07, "stuck": 0x08, "stuck_relay": 0x08,
    "gfi_test": 0x09, "overtemp": 0x0A, "over_temperature": 0x0A,
    "overcurrent": 0x0B, "over_current": 0x0B, "relay_closure": 0x0E,
    "ppshort": 0x0F, "ppmissing": 0x10, "eeprom": 0x11,
}

# --- settings flags ECF_* (rapi.md 4.3) -------------------------------------
ECF_L2 = 0x0001
ECF_DIODE_CHK_DISABLED = 0x0002
ECF_VENT_REQ_DISABLED = 0x0004
ECF_GND_CHK_DISABLED = 0x0008
ECF_STUCK_RELAY_CHK_DISABLED = 0x0010
ECF_AUTO_SVC_LEVEL_DISABLED = 0x0020
ECF_AUTO_START_DISABLED = 0x0040
ECF_SERIAL_DBG = 0x0080
ECF_MONO_LCD = 0x0100
ECF_GFI_TEST_DISABLED = 0x0200
ECF_TEMP_CHK_DISABLED = 0x0400
ECF_BUTTON_DISABLED = 0x8000

# $FF letter -> (flag, flag set when feature is *disabled*)
FF_FLAGS = {
    "B": ECF_BUTTON_DISABLED, "D": ECF_DIODE_CHK_DISABLED,
    "F": ECF_GFI_TEST_DISABLED, "G": ECF_GND_CHK_DISABLED,
    "R": ECF_STUCK_RELAY_CHK_DISABLED, "T": ECF_TEMP_CHK_DISABLED,
    "V": ECF_VENT_REQ_DISABLED,
}

# --- volatile flags ECVF_* (rapi.md 4.4) ------------------------------------
ECVF_AUTOSVCLVL_SKIPPED = 0x0001
ECVF_HARD_FAULT = 0x0002
ECVF_LIMIT_SLEEP = 0x0004
ECVF_AUTH_LOCKED = 0x0008
ECVF_TIME_LIMIT = 0x0010
ECVF_NOGND_TRIPPED = 0x0020
ECVF_CHARGING_ON = 0x0040
ECVF_GFI_TRIPPED = 0x0080
ECVF_EV_CONNECTED = 0x0100
ECVF_SESSION_ENDED = 0x0200
ECVF_EV_CONNECTED_PREV = 0x0400
ECVF_UI_IN_MENU = 0x0800
ECVF_TIMER_ON = 0x1000
ECVF_CHARGE_LIMIT = 0x2000
ECVF_BOOT_LOCK = 0x4000
ECVF_MENNEKES_MANUAL = 0x8000
ECVF_CHANGED_TEST = (ECVF_AUTH_LOCKED | ECVF_EV_CONNECTED | ECVF_TIME_LIMIT |
                     ECVF_CHARGE_LIMIT | ECVF_HARD_FAULT)

# --- limits (rapi.md 4.5) ---------------------------------------------------
MIN_CURRENT = 6
MAX_CURRENT_L1 = 24
MV_FOR_L1 = 120000

# --- protocol constants -----------------------------------------------------
ESRAPI_BUFLEN = 32          # longest line is 31 chars ($ .. last csum digit)
ESRAPI_MAX_ARGS = 10
HS_ACK_COOKIE = 165
TEMP_NOT_INSTALLED = -2560

# over temperature (0.1 C), our own simple model
TEMP_THROTTLE = 650
TEMP_PANIC = 800
TEMP_RESTORE = 620


def xor8(data):
    c = 0
    for b in data:
        c ^= b
    return c


def sum8(data):
    return sum(data) & 0xFF


def frame(body):
    """'$OK 1' -> b'$OK 1^XX\\r' (uppercase XOR checksum)."""
    raw = body.encode("latin-1")
    return raw + b"^%02X\r" % xor8(raw)


def _nibble(c):
    if 0x30 <= c <= 0x39:
        return c - 0x30
    if 0x41 <= c <= 0x46:
        return c - 0x37
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return 0


def htou8(tok):
    """Two hex digits as the controller reads them (bad/missing digit = 0)."""
    hi = _nibble(tok[0]) if len(tok) > 0 else 0
    lo = _nibble(tok[1]) if len(tok) > 1 else 0
    return (hi << 4) | lo


def dtou32(tok):
    """Unsigned decimal with no validation (c - '0' added in), 32-bit wrap."""
    n = 0
    for c in tok:
        n = (n * 10 + (c - 0x30)) & 0xFFFFFFFF
    return n


class Eeprom:
    """Persistent settings with a write counter (one per changed item)."""

    def __init__(self, data=None):
        self.data = dict(data or {})
        self.writes = 0
        self.write_log = []

    def get(self, key):
        return self.data[key]

    def put(self, key, value):
        if self.data.get(key) != value:
            self.data[key] = value
            self.writes += 1
            self.write_log.append(key)

    def as_dict(self):
        return dict(self.data)


def default_eeprom(max_current=32, hw_max=32, l1_max=12):
    return {
        "flags": ECF_L2 | ECF_AUTO_SVC_LEVEL_DISABLED,
        "max_l1": l1_max,
        "max_l2": max_current,
        "hw_max": hw_max,
        "hw_max_set": False,
        "hs_interval": 0,
        "hs_current": 0,
        "total_wh": 0,
        "gfi_count": 0,
        "nognd_count": 0,
        "stuck_count": 0,
        "amm_scale": 220,
        "amm_offset": 0,
        "timer": [0, 0, 0, 0],
    }


class Controller:
    """The OpenEVSE controller. ``ev`` is an ``sim.ev.EV`` (or None)."""

    def __init__(self, ev=None, now_ms=0, max_current=32, hw_max=32,
                 voltage_mv=240000, eeprom=None, boot=True, fw=None,
                 mcu_id="OPNSIM0E1F2A3B", rtc=None, debounce_ms=250,
                 debounce_a_ms=25, post_ms=300, echo_bug=True, profile="8.2.3"):
        prof = PROFILES[profile]
        self.profile = profile
        self.features = set(prof["features"])
        self.rapi_version = prof["rapi"]
        self.buflen = prof.get("buflen", ESRAPI_BUFLEN)
        self.ev = ev
        self.fw = fw or prof["fw"]
        self.mcu_id = mcu_id
        self.mv_l2 = voltage_mv
        self.l2_limit = hw_max           # MAX_CURRENT_CAPACITY_L2 of this build
        self.debounce_ms = debounce_ms
        self.debounce_a_ms = debounce_a_ms
        self.post_ms = post_ms
        self.echo_bug = echo_bug
        if isinstance(eeprom, Eeprom):
            self.eeprom = eeprom
        else:
            self.eeprom = Eeprom(eeprom or default_eeprom(max_current, hw_max))
            if "timer" in prof:
                self.eeprom.data["timer"] = list(prof["timer"])
        if "D9" in self.features:
            self.eeprom.data.setdefault("panic_temp", TEMP_PANIC)
            self.eeprom.data.setdefault("relays", [1, 1, 1])
            self.eeprom.data.setdefault("zero_ma", 200)
        # non-volatile hardware: sensors and battery-backed RTC
        self.temps = [250, 260, TEMP_NOT_INSTALLED]
        if rtc is None and "rtc" in prof:
            rtc = datetime.datetime(*prof["rtc"])
        self._rtc_base = rtc or datetime.datetime(2025, 1, 1, 0, 0, 0)
        self._rtc_base_ms = now_ms
        self.boots = 0
        self.log = []
        self.command_counts = {}
        self.rejected = {"bad_checksum": 0, "too_many_tokens": 0, "overlong": 0,
                         "ignored_while_rebooting": 0, "refused": 0}
        self.refuse = set()               # fault injection: commands answered $NK unexecuted
        self.relay_closures = 0           # how often the relay closed (relay wear, cycling)
        self._forced = False
        self._buf = None
        self._out = []
        self._reset_volatile(now_ms)
        if boot:
            self._reboot_at = now_ms      # cold boot sequence on first tick
        else:
            self.boots = 1
            self._last_at = None
            self._read_pilot(now_ms, immediate=True)
            self._update_state(now_ms)
            self._last_at = self._at_key()

    # ------------------------------------------------------------------ state
    def _reset_volatile(self, now_ms):
        e = self.eeprom
        self.state = STATE_UNKNOWN
        self.pilot_state = 0
        self.capacity = self._eeprom_max()
        self.vflags = ECVF_SESSION_ENDED
        self.voltage_mv = self.mv_l2 if self._l2() else MV_FOR_L1
        self.echo = False
        self.relay_closed = False
        self.hs_trigger = 0
        self.hs_last_pulse = now_ms
        self.session_ws_acc = 0           # mA * mV * ms  (1e-9 Ws)
        self.charge_on_ms = None
        self.charge_off_ms = None
        self.elapsed_s = 0
        self.lcd_updates = True
        self.backlight = 7
        self.lcd_text = {}
        self.mennekes = {"state": 0, "mode": "A"}
        self.manual_override = False      # DelayTimer m_ManualOverride
        self._forced = False
        self.time_limit15 = 0             # $S3 (TIME_LIMIT builds), 15-minute units
        self.charge_limit_kwh = 0         # $SH (CHARGE_LIMIT builds)
        self.overtemp = False
        self._overtemp_saved_cap = None
        self._sleep_at = None
        self._last_tick = now_ms
        self._last_timer_check = None
        self._pilot_candidate = None
        self._pilot_since = now_ms
        self._last_at = None
        self._reboot_at = None
        self._booting_until = None
        self._buf = None
        if any(e.get("timer")) and "TIMER_FLAG" in self.features:
            self.vflags |= ECVF_TIMER_ON

    def _l2(self):
        return bool(self.eeprom.get("flags") & ECF_L2)

    def _eeprom_max(self):
        return self.eeprom.get("max_l2" if self._l2() else "max_l1")

    def _hw_max(self):
        return self.eeprom.get("hw_max") if self._l2() else MAX_CURRENT_L1

    @property
    def rebooting(self):
        return self._reboot_at is not None or self._booting_until is not None

    @property
    def session_ws(self):
        return self.session_ws_acc // 10 ** 9

    @property
    def ev_connected(self):
        return bool(self.vflags & ECVF_EV_CONNECTED)

    def is_fault(self, state=None):
        s = self.state if state is None else state
        return FAULT_FIRST <= s <= (FAULT_LAST_D9 if "D9" in self.features else FAULT_LAST)

    def supports(self, name):
        """True when this profile has a handler for the 2-letter command `name`."""
        need = NEEDS.get(name)
        return hasattr(self, "_cmd_" + name) and (need is None or need in self.features)

    def pwm_on(self):
        return self.state in (STATE_B, STATE_C) and not self.rebooting

    def ammeter_ma(self):
        if self.relay_closed and self.ev is not None:
            return self.ev.current_ma
        return 0

    def rtc_now(self, now_ms):
        return self._rtc_base + datetime.timedelta(milliseconds=now_ms - self._rtc_base_ms)

    # ---------------------------------------------------------------- output
    def _emit(self, data):
        self._out.append(data)

    def _take(self):
        out, self._out = self._out, []
        return out

    def _at_key(self):
        return (self.state, self.pilot_state, self.capacity,
                self.vflags & ECVF_CHANGED_TEST)

    def _send_evse_state(self, force=False):
        key = self._at_key()
        if not force:
            if key == self._last_at or self.state == STATE_UNKNOWN:
                return
            ev = self.vflags & ECVF_EV_CONNECTED
            if self.state == STATE_A and ev:
                return
            if self.state in (STATE_B, STATE_C) and not ev:
                return
        self._emit(frame("$AT %02x %02x %d %04x" % (
            self.state, self.pilot_state, self.capacity, self.vflags)))
        self._last_at = key

    # ----------------------------------------------------------------- input
    def feed(self, data, now_ms):
        """Bytes received from the gateway. Returns bytes to send back."""
        for b in data:
            if self.rebooting:
                self.rejected["ignored_while_rebooting"] += 1
                continue
            if self.echo:
                self._emit(bytes([b]))
            if b == 0x24:                       # '$' starts a new line
                self._buf = bytearray(b"$")
            elif self._buf is None:
                continue                        # noise between lines
            elif b == 0x0D:
                line, self._buf = bytes(self._buf), None
                self._process_line(line, now_ms)
            else:
                self._buf.append(b)
                if len(self._buf) >= self.buflen:
                    self._buf = None            # overflow: silently dropped
                    self.rejected["overlong"] += 1
        return self._take()

    def _reply(self, ok, fields, seq):
        body = "$OK" if ok else "$NK"
        for f in fields:
            body += " " + str(f)
        if seq:
            body += " :%02X" % seq
        self._emit_line(body)
        return body

    def _emit_line(self, body):
        # every reply goes through EvseRapiProcessor::response(), which writes an LF after it
        # in echo mode: the checksum / token-count rejection too (rapi_proc.cpp)
        data = frame(body)
        if self.echo:
            data += b"\n"
        self._emit(data)

    def _process_line(self, line, now_ms):
        body = line
        for i in range(3, len(line)):
            c = line[i]
            if c in (0x5E, 0x2A):               # '^' XOR, '*' additive
                want = htou8(line[i + 1:i + 3])
                got = xor8(line[:i]) if c == 0x5E else sum8(line[:i])
                if want != got:
                    self.rejected["bad_checksum"] += 1
                    self._emit_line("$NK")
                    return
                body = line[:i]
                break
        tokens = body[1:].split(b" ")
        if len(tokens) > ESRAPI_MAX_ARGS:
            self.rejected["too_many_tokens"] += 1
            self._emit_line("$NK")
            return
        seq = 0
        if "SEQ_ID" in self.features and len(tokens) > 1 and tokens[-1][:1] == b":":
            seq = htou8(tokens[-1][1:3])
            tokens = tokens[:-1]
        cmd = tokens[0][:2].decode("latin-1")
        args = [t.decode("latin-1") for t in tokens[1:]]
        name = "$" + cmd
        handler = None
        if len(cmd) == 2 and cmd.isalnum() and self.supports(cmd):
            handler = getattr(self, "_cmd_" + cmd)
        reboot_before = self._reboot_at
        if handler is None:
            ok, fields = False, []
        elif name in self.refuse:
            self.rejected["refused"] += 1
            ok, fields = False, []
        else:
            res = handler(args, [t for t in tokens[1:]], now_ms)
            ok, fields = res if res is not None else (None, None)
        entry = {"index": len(self.log), "name": name, "args": args,
                 "seq": seq or None, "t_ms": now_ms, "reply": None}
        self.command_counts[name] = self.command_counts.get(name, 0) + 1
        if ok is not None:
            entry["reply"] = self._reply(ok, fields, seq)
        self.log.append(entry)
        if self._reboot_at is None or self._reboot_at == reboot_before:
            self._send_evse_state()

    # ------------------------------------------------------------ get cmds
    def _cmd_GV(self, a, t, now):
        return True, [self.fw, self.rapi_version]

    def _cmd_GS(self, a, t, now):
        return True, ["%02x" % self.state, self._elapsed(now),
                      "%02x" % self.pilot_state, "%04x" % self.vflags]

    def _cmd_GE(self, a, t, now):
        return True, [self.capacity, "%04x" % self.eeprom.get("flags")]

    def _cmd_GC(self, a, t, now):
        return True, [MIN_CURRENT, self._hw_max(), self.capacity, self._eeprom_max()]

    def _cmd_GG(self, a, t, now):
        return True, [self.ammeter_ma(), self.voltage_mv]

    def _cmd_GP(self, a, t, now):
        return True, list(self.temps)

    def _cmd_GU(self, a, t, now):
        return True, [self.session_ws, self.eeprom.get("total_wh")]

    def _cmd_GF(self, a, t, now):
        e = self.eeprom
        return True, ["%x" % e.get("gfi_count"), "%x" % e.get("nognd_count"),
                      "%x" % e.get("stuck_count")]

    def _cmd_GA(self, a, t, now):
        return True, [self.eeprom.get("amm_scale"), self.eeprom.get("amm_offset")]

    def _cmd_GI(self, a, t, now):
        return True, ["", self.mcu_id]

    def _cmd_GT(self, a, t, now):
        d = self.rtc_now(now)
        return True, [d.year - 2000, d.month, d.day, d.hour, d.minute, d.second]

    def _cmd_GD(self, a, t, now):
        return True, list(self.eeprom.get("timer"))

    def _cmd_GY(self, a, t, now):
        return True, self._hs_fields()

    def _cmd_G0(self, a, t, now):
        if self.state == STATE_DISABLED:
            return True, [2]
        return True, [1 if self.vflags & ECVF_EV_CONNECTED else 0]

    def _cmd_G5(self, a, t, now):
        return True, [self.mennekes["state"], self.mennekes["mode"]]

    # ------------------------------------------------------------ set cmds
    def _cmd_SC(self, a, t, now):
        if len(a) not in (1, 2):   # rapi_proc.cpp: tokenCnt 2 or 3, else rc stays 1 ($NK)
            return False, []
        amps = dtou32(t[0])
        mode = a[1] if len(a) > 1 else None
        if mode == "M":
            e = self.eeprom
            if e.get("hw_max_set"):
                return False, [e.get("hw_max")]
            ok = MIN_CURRENT <= amps <= self.l2_limit
            amps = max(MIN_CURRENT, min(amps, self.l2_limit))
            e.put("hw_max", amps)
            e.put("hw_max_set", True)
            if self._l2() and self.capacity > amps:
                self.capacity = amps
            return ok, [amps]
        nosave = mode is not None
        maxamps = self._eeprom_max() if nosave else self._hw_max()
        ok = True
        if amps < MIN_CURRENT:
            amps, ok = MIN_CURRENT, False
        elif amps > maxamps:
            amps, ok = maxamps, False
        if self.overtemp and amps > self.capacity:
            return False, [self.capacity]
        self.capacity = amps
        if not nosave:
            self.eeprom.put("max_l2" if self._l2() else "max_l1", amps)
        return ok, [amps]

    def _cmd_SY(self, a, t, now):
        e = self.eeprom
        if len(a) == 0:                                  # pulse
            self.hs_last_pulse = now
            return self.hs_trigger != 2, self._hs_fields()
        if len(a) == 1:                                  # acknowledge
            if dtou32(t[0]) != HS_ACK_COOKIE:
                return False, self._hs_fields()
            if self.hs_trigger != 2:
                return True, self._hs_fields()
            if self.overtemp:
                return False, self._hs_fields()
            self.capacity = self._eeprom_max()
            self.hs_trigger = 1
            return True, self._hs_fields()
        if len(a) == 2:                                  # configure
            interval, current = dtou32(t[0]), dtou32(t[1])
            if interval == 0 and self.hs_trigger == 2:
                self.capacity = self._eeprom_max()
            e.put("hs_interval", interval)
            e.put("hs_current", current)
            self.hs_trigger = 0
            self.hs_last_pulse = now
            return True, self._hs_fields()
        return False, self._hs_fields()

    def _hs_fields(self):
        return [self.eeprom.get("hs_interval"), self.eeprom.get("hs_current"),
                self.hs_trigger]

    def _cmd_SL(self, a, t, now):
        if len(a) != 1:
            return False, []
        e = self.eeprom
        flags = e.get("flags")
        if a[0] == "1":
            e.put("flags", (flags & ~ECF_L2) | ECF_AUTO_SVC_LEVEL_DISABLED)
        elif a[0] == "2":
            e.put("flags", flags | ECF_L2 | ECF_AUTO_SVC_LEVEL_DISABLED)
        else:
            return False, []          # 'A': NO_AUTOSVCLEVEL (EU build)
        self.capacity = self._eeprom_max()
        self.voltage_mv = self.mv_l2 if self._l2() else MV_FOR_L1
        return True, []

    def _cmd_SK(self, a, t, now):
        self.eeprom.put("total_wh", dtou32(t[0]) if t else 0)
        return True, []

    def _cmd_SV(self, a, t, now):
        if len(a) != 1:
            return False, []
        self.voltage_mv = dtou32(t[0])
        return True, []

    def _cmd_ST(self, a, t, now):
        if len(a) != 4:
            return False, []
        timer = [dtou32(x) & 0xFF for x in t]
        self.eeprom.put("timer", timer)
        # DelayTimer::Enable()/Disable() both clear the manual override
        self.manual_override = False
        if any(timer) and "TIMER_FLAG" in self.features:
            self.vflags |= ECVF_TIMER_ON
        else:
            self.vflags &= ~ECVF_TIMER_ON
        self._last_timer_check = None
        return True, []

    def _cmd_S1(self, a, t, now):
        if len(a) != 6:
            return False, []
        v = [dtou32(x) for x in t]
        try:
            self._rtc_base = datetime.datetime(2000 + v[0], v[1], v[2], v[3], v[4], v[5])
            self._rtc_base_ms = now
        except (ValueError, OverflowError):
            pass                       # the RTC chip takes garbage silently
        return True, []

    def _cmd_SA(self, a, t, now):
        if len(a) != 2:
            return False, []
        self.eeprom.put("amm_scale", dtou32(t[0]))
        self.eeprom.put("amm_offset", dtou32(t[1]))
        return True, []

    def _cmd_S0(self, a, t, now):
        if len(a) != 1:
            return False, []
        flags = self.eeprom.get("flags")
        if a[0] == "0":
            self.eeprom.put("flags", flags | ECF_MONO_LCD)
        else:
            self.eeprom.put("flags", flags & ~ECF_MONO_LCD)
        return True, []

    def _cmd_S5(self, a, t, now):
        if len(a) != 1:
            return False, []
        v = a[0]
        if v in ("A", "M"):
            self.mennekes["mode"] = v
            if v == "M":
                self.vflags |= ECVF_MENNEKES_MANUAL
            else:
                self.vflags &= ~ECVF_MENNEKES_MANUAL
            return True, []
        if v in ("0", "1") and self.mennekes["mode"] == "M":
            self.mennekes["state"] = int(v)
            return True, []
        return False, []

    # ---------------------------------------- TIME_LIMIT / CHARGE_LIMIT builds
    # (Arduino-CLI builds; PlatformIO builds leave them out: NEEDS above)
    def _limits_allowed(self):
        return self.state in (STATE_B, STATE_C)      # LimitsAllowed(): EV connected, B or C

    def _cmd_S3(self, a, t, now):
        if len(a) != 1 or not self._limits_allowed():
            return False, []
        self.time_limit15 = dtou32(t[0]) & 0xFF
        if self.time_limit15:
            self.vflags |= ECVF_TIME_LIMIT
            if self._timer_enabled():
                self.manual_override = True  # SetTimeLimit15: the limit overrides the timer
        else:
            self.vflags &= ~ECVF_TIME_LIMIT
            self.manual_override = False
        return True, []

    def _cmd_G3(self, a, t, now):
        return True, [self.time_limit15]

    def _cmd_SH(self, a, t, now):
        if len(a) != 1 or not self._limits_allowed():
            return False, []
        self.charge_limit_kwh = dtou32(t[0]) & 0xFF
        if self.charge_limit_kwh:
            self.vflags |= ECVF_CHARGE_LIMIT
            if self._timer_enabled():
                self.manual_override = True
        else:
            self.vflags &= ~ECVF_CHARGE_LIMIT
            self.manual_override = False
        return True, []

    def _cmd_GH(self, a, t, now):
        return True, [self.charge_limit_kwh]

    def _check_limits(self, now_ms):
        """A session limit reached puts the EVSE to sleep with ECVF_LIMIT_SLEEP."""
        if self.state != STATE_C:
            return
        hit = (self.time_limit15 and self._elapsed(now_ms) >= self.time_limit15 * 900) or \
            (self.charge_limit_kwh and self.session_ws >= self.charge_limit_kwh * 3600000)
        if hit:
            self.vflags |= ECVF_LIMIT_SLEEP
            self._sleep(now_ms)

    # ------------------------------------------------------------ D9 (RAPI 6.0.0)
    def _cmd_GZ(self, a, t, now):
        # line frequency x100 (0 until a relay operation measured it), zero-current threshold
        return True, [5000 if self.relay_closures else 0, self.eeprom.get("zero_ma")]

    def _cmd_GR(self, a, t, now):
        return True, list(self.eeprom.get("relays"))

    def _cmd_SR(self, a, t, now):
        if len(a) != 2:
            return False, []
        n, v = dtou32(t[0]), dtou32(t[1])
        if not 1 <= n <= 3 or v > 1:
            return False, []
        relays = list(self.eeprom.get("relays"))
        relays[n - 1] = v
        self.eeprom.put("relays", relays)
        return True, []

    def _cmd_SZ(self, a, t, now):
        if len(a) != 1:
            return False, []
        self.eeprom.put("zero_ma", min(5000, dtou32(t[0])))
        return True, []

    def _cmd_FC(self, a, t, now):
        # resets the fault counters and the lifetime energy
        for k in ("gfi_count", "nognd_count", "stuck_count", "total_wh"):
            self.eeprom.put(k, 0)
        return True, []

    def _cmd_FO(self, a, t, now):
        if len(a) != 1:
            return False, []
        self.eeprom.put("panic_temp", dtou32(t[0]))
        return True, []

    def _cmd_GO(self, a, t, now):
        return True, [self.eeprom.get("panic_temp")]

    # $S2 (repurposed flag), $S4/$G4 (AUTH_LOCK off), $SB (BOOTLOCK off), $SE (removed):
    # no handler -> $NK like an unknown command.

    # ------------------------------------------------------- function cmds
    def _cmd_FE(self, a, t, now):
        self.vflags &= ~ECVF_LIMIT_SLEEP
        self._enable(now)
        return True, []

    def _cmd_FS(self, a, t, now):
        self._sleep(now)
        return True, []

    def _cmd_FD(self, a, t, now):
        self._disable(now)
        return True, []

    def _cmd_F1(self, a, t, now):
        self._short_press(now)
        return True, []

    def _short_press(self, now):
        """BtnHandler::DoShortPress (main.cpp): toggle sleep/enable; with the delay timer on,
        a press that goes against the timer window sets its manual override, one that goes
        with it clears the override. In a fault it does nothing."""
        if self.is_fault():
            return
        if self.state in (STATE_SLEEPING, STATE_DISABLED):
            self._enable(now)
        else:
            self._sleep(now)
        if self._timer_enabled():
            inside = self._in_window(now)
            sleeping = self.state == STATE_SLEEPING
            self.manual_override = (inside and sleeping) or (not inside and not sleeping)

    def _cmd_FR(self, a, t, now):
        self.request_reboot(now)
        return None

    def _cmd_F0(self, a, t, now):
        if len(a) != 1:
            return False, []
        self.lcd_updates = a[0] != "0"
        return True, []

    def _cmd_FB(self, a, t, now):
        if len(a) != 1:
            return False, []
        self.backlight = dtou32(t[0])
        return True, []

    def _cmd_FF(self, a, t, now):
        if len(a) != 2:
            return False, []
        f, v = a[0], dtou32(t[1])
        if v > 1:
            return False, []
        if f == "E":
            # 8.2.3 bug: both 0 and 1 turn echo on (only a reboot clears it)
            self.echo = True if self.echo_bug else bool(v)
            return True, []
        flag = FF_FLAGS.get(f)
        if flag is None:
            return False, []
        flags = self.eeprom.get("flags")
        self.eeprom.put("flags", flags & ~flag if v else flags | flag)
        return True, []

    def _cmd_FP(self, a, t, now):
        if len(a) < 2 or self.vflags & ECVF_HARD_FAULT:
            return False, []
        self.lcd_text[(dtou32(t[0]), dtou32(t[1]))] = " ".join(a[2:])
        return True, []

    # ------------------------------------------------------ state changes
    def _enable(self, now):
        if self.state in (STATE_SLEEPING, STATE_DISABLED):
            self.state = STATE_UNKNOWN
            self._sleep_at = None

    def _sleep(self, now):
        if self.state != STATE_SLEEPING:
            self.state = STATE_SLEEPING
            self._sleep_at = now

    def _disable(self, now):
        if self.state != STATE_DISABLED:
            self.state = STATE_DISABLED
            self._set_relay(False, now)

    def _set_relay(self, closed, now):
        if closed == self.relay_closed:
            return
        self.relay_closed = closed
        if closed:
            self.relay_closures += 1
            self.vflags |= ECVF_CHARGING_ON
            if self.charge_on_ms is None:     # first charge of the session
                self.charge_on_ms = now
            self.charge_off_ms = None
        else:
            self.vflags &= ~ECVF_CHARGING_ON
            self.charge_off_ms = now

    def _elapsed(self, now):
        if self.charge_on_ms is None:
            return 0
        end = now if self.charge_off_ms is None else self.charge_off_ms
        return max(0, (end - self.charge_on_ms) // 1000)

    # ------------------------------------------------------ external events
    def request_reboot(self, now_ms, delay_ms=None):
        """$FR / watchdog: no reply, reboot after WDT 1 s + 1.5 s (+3 s if
        the relay was closed)."""
        if delay_ms is None:
            delay_ms = 2500 + (3000 if self.relay_closed else 0)
        if self.relay_closed:
            self._set_relay(False, now_ms)
        self._buf = None
        self._reboot_at = now_ms + delay_ms

    def press_button(self, kind, now_ms):
        """The front (menu) button: "short", "long" or "verylong" (~10 s). With the button
        disabled ($FF B 0, as a WiFi gateway does) short/long presses go out as $AN 0/1;
        otherwise a short press toggles sleep/enable itself, like $F1. A very long press
        asks the WiFi module for its access point ($WF 02). Returns the bytes to send."""
        if kind not in ("short", "long", "verylong"):
            raise ValueError("press must be short, long or verylong")
        if self.rebooting:
            return self._take()
        if kind == "verylong":
            self._emit(frame("$WF 02"))
        elif self.eeprom.get("flags") & ECF_BUTTON_DISABLED:
            self._emit(frame("$AN %d" % (kind == "long")))
        elif kind == "short" and not self.is_fault():
            self._short_press(now_ms)
            self._send_evse_state()
        self._mark("!button-" + kind, now_ms)
        return self._take()

    def _mark(self, name, now_ms):
        """An event of the controller's own in the command log (no reply), so tests can
        tell its doing from the gateway's."""
        self.log.append({"index": len(self.log), "name": name, "args": [],
                         "seq": None, "t_ms": now_ms, "reply": None})

    def inject_fault(self, state, now_ms):
        """Force a fault state 4..14 (counters and trip flags as the
        controller keeps them). Returns the bytes to send."""
        last = FAULT_LAST_D9 if "D9" in self.features else FAULT_LAST
        if not FAULT_FIRST <= state <= last:
            raise ValueError("fault state must be 4..%d" % last)
        e = self.eeprom
        if state == STATE_GFCI_FAULT:
            e.put("gfi_count", e.get("gfi_count") + 1)
            self.vflags |= ECVF_GFI_TRIPPED
        elif state == STATE_NO_GROUND:
            e.put("nognd_count", e.get("nognd_count") + 1)
            self.vflags |= ECVF_NOGND_TRIPPED
        elif state == STATE_STUCK_RELAY:
            e.put("stuck_count", e.get("stuck_count") + 1)
            self.vflags |= ECVF_HARD_FAULT
        elif state == STATE_RELAY_CLOSURE_FAULT:
            self.vflags |= ECVF_HARD_FAULT
        self.state = state
        self._set_relay(False, now_ms)
        if not self.rebooting:
            self._send_evse_state()
        return self._take()

    def force_state(self, state, now_ms):
        """Test hook, not controller behaviour: put the state machine into any state code,
        as a controller this model does not cover (a newer or an independent one) might
        report it. The relay opens; clear_fault() ends it. Returns the bytes to send."""
        if not 0 <= state <= 255:
            raise ValueError("state must be 0..255")
        self.state = state
        self._forced = True
        self._set_relay(False, now_ms)
        if not self.rebooting:
            self._send_evse_state()
        return self._take()

    def clear_fault(self, now_ms):
        if self.is_fault() or self._forced:
            self._forced = False
            self.state = STATE_UNKNOWN
            self.vflags &= ~ECVF_HARD_FAULT
        return self.tick(now_ms)

    def set_temps(self, temps):
        for i, v in enumerate(temps[:3]):
            if v is not None:
                self.temps[i] = int(v)

    # -------------------------------------------------------------- update
    def tick(self, now_ms):
        """Advance the model to now_ms; returns bytes to send."""
        if self._reboot_at is not None:
            if now_ms < self._reboot_at:
                self._advance_ev(now_ms)
                return self._take()
            self._boot(now_ms)
        if self._booting_until is not None:
            if now_ms < self._booting_until:
                self._last_tick = now_ms
                return self._take()
            self._booting_until = None
            self._timer_check(now_ms, force=True)
            self._emit(frame("$AB %02x %s" % (self.state, self.fw)))
            self._read_pilot(now_ms, immediate=True)
            self._last_tick = now_ms
        self._advance_ev(now_ms)
        self._temperature(now_ms)
        self._check_limits(now_ms)
        self._timer_check(now_ms)
        if self.state not in (STATE_SLEEPING, STATE_DISABLED):
            self._heartbeat(now_ms)
        if self.state != STATE_DISABLED:
            self._read_pilot(now_ms)
        self._update_state(now_ms)
        self._send_evse_state()
        return self._take()

    def _boot(self, now_ms):
        self._reset_volatile(now_ms)
        self.boots += 1
        self._booting_until = now_ms + self.post_ms
        self._send_evse_state(force=True)        # $AT 00 00 cap vflags

    def _advance_ev(self, now_ms):
        dt = max(0, now_ms - self._last_tick)
        self._last_tick = now_ms
        if self.ev is None:
            return
        self.ev.update(now_ms, self.capacity if self.pwm_on() else 0,
                       self.relay_closed)
        if self.relay_closed:
            self.session_ws_acc += self.ev.current_ma * self.voltage_mv * dt

    def _read_pilot(self, now_ms, immediate=False):
        raw = 1
        if self.ev is not None and self.ev.connected:
            raw = self.ev.pilot_reading()
        if immediate:
            self._pilot_candidate = raw
            self.pilot_state = raw
        else:
            if raw != self._pilot_candidate:
                self._pilot_candidate = raw
                self._pilot_since = now_ms
            wait = self.debounce_a_ms if raw == 1 else self.debounce_ms
            if raw != self.pilot_state and now_ms - self._pilot_since >= wait:
                self.pilot_state = raw
        connected = self.pilot_state in (STATE_B, STATE_C, STATE_D)
        was = bool(self.vflags & ECVF_EV_CONNECTED)
        if connected and not was:
            self.vflags |= ECVF_EV_CONNECTED
            self.vflags &= ~ECVF_SESSION_ENDED
            self.session_ws_acc = 0            # new session
            self.charge_on_ms = None
            self.charge_off_ms = None
        elif was and not connected:
            self.vflags &= ~ECVF_EV_CONNECTED
            self.vflags |= ECVF_SESSION_ENDED
            self.eeprom.put("total_wh", self.eeprom.get("total_wh") + self.session_ws // 3600)
            self.manual_override = False
            self.time_limit15 = self.charge_limit_kwh = 0    # limits end with the session
            self.vflags &= ~(ECVF_TIME_LIMIT | ECVF_CHARGE_LIMIT)
            if self.vflags & ECVF_LIMIT_SLEEP and self.state == STATE_SLEEPING:
                self.vflags &= ~ECVF_LIMIT_SLEEP
                self.state = STATE_UNKNOWN     # a limit sleep ends at unplug

    def _update_state(self, now_ms):
        s = self.state
        if s in (STATE_UNKNOWN, STATE_A, STATE_B, STATE_C):
            if self.pilot_state in (STATE_A, STATE_B, STATE_C):
                self.state = self.pilot_state
            self._set_relay(self.state == STATE_C, now_ms)
        elif s == STATE_SLEEPING:
            if self.relay_closed:
                ma = self.ev.current_ma if self.ev is not None else 0
                if ma <= 1000 or now_ms - (self._sleep_at or now_ms) >= 3000:
                    self._set_relay(False, now_ms)
        else:                                  # disabled / fault
            self._set_relay(False, now_ms)

    def _heartbeat(self, now_ms):
        interval = self.eeprom.get("hs_interval")
        if interval and now_ms - self.hs_last_pulse > interval * 1000:
            fallback = max(MIN_CURRENT, self.eeprom.get("hs_current"))
            if fallback < self.capacity:
                self.capacity = fallback
            self.hs_trigger = 2
            self.hs_last_pulse = now_ms
            # a current change after this is the controller's own doing: re-applying is right
            self._mark("!heartbeat-expired", now_ms)

    def _temperature(self, now_ms):
        if self.eeprom.get("flags") & ECF_TEMP_CHK_DISABLED:
            return
        valid = [x for x in self.temps if x != TEMP_NOT_INSTALLED]
        tmax = max(valid) if valid else 0
        if tmax >= TEMP_PANIC and self.state in (STATE_UNKNOWN, STATE_A, STATE_B, STATE_C):
            self.state = STATE_OVER_TEMPERATURE
            self._set_relay(False, now_ms)
        if tmax >= TEMP_THROTTLE and not self.overtemp:
            self.overtemp = True
            self._overtemp_saved_cap = self.capacity
            self.capacity = max(MIN_CURRENT, self.capacity // 2)
        elif tmax < TEMP_RESTORE and self.overtemp:
            self.overtemp = False
            if self._overtemp_saved_cap is not None:
                self.capacity = min(self._overtemp_saved_cap, self._eeprom_max())
            if self.state == STATE_OVER_TEMPERATURE:
                self.state = STATE_UNKNOWN

    def _timer_enabled(self):
        return any(self.eeprom.get("timer"))

    def _in_window(self, now_ms):
        """DelayTimer::IsInAwakeTimeInterval (main.cpp) on the RTC's local time."""
        timer = self.eeprom.get("timer")
        d = self.rtc_now(now_ms)
        cur = d.hour * 60 + d.minute
        start, stop = timer[0] * 60 + timer[1], timer[2] * 60 + timer[3]
        if stop < start:                       # the window ends the next day
            return (cur >= start and cur > stop) or (cur <= start and cur < stop)
        return start <= cur < stop

    def _timer_check(self, now_ms, force=False):
        """DelayTimer::CheckTime (main.cpp), about once a second: not in a fault nor while
        disabled. Inside the window a sleeping EVSE is woken, outside any other state is put
        to sleep, unless the manual override (a front-button press, $F1) is set; the override
        ends once the state agrees with the window again, or at unplug."""
        if not self._timer_enabled() or self.is_fault() or self.state == STATE_DISABLED:
            return
        if not force and self._last_timer_check is not None and \
                now_ms - self._last_timer_check <= 1000:
            return
        self._last_timer_check = now_ms
        sleeping = self.state == STATE_SLEEPING
        if self._in_window(now_ms):
            if not self.manual_override:
                if sleeping and not self.vflags & ECVF_LIMIT_SLEEP:
                    self._enable(now_ms)
            elif not sleeping:
                self.manual_override = False
        else:
            if not self.manual_override:
                if not sleeping:
                    self._sleep(now_ms)
            elif sleeping:
                self.manual_override = False

    # ------------------------------------------------------------- report
    def snapshot(self, now_ms):
        return {
            "profile": self.profile,
            "fw": self.fw,
            "rapi": self.rapi_version,
            "state": self.state,
            "state_hex": "%02x" % self.state,
            "pilot_state": self.pilot_state,
            "current_a": self.capacity,
            "relay_closed": self.relay_closed,
            "relay_closures": self.relay_closures,
            "timer": {"window": list(self.eeprom.get("timer")),
                      "manual_override": self.manual_override},
            "refuse": sorted(self.refuse),
            "ev_connected": self.ev_connected,
            "ev_amps_ma": self.ammeter_ma(),
            "voltage_mv": self.voltage_mv,
            "vflags": self.vflags,
            "vflags_hex": "%04x" % self.vflags,
            "temps": list(self.temps),
            "overtemp": self.overtemp,
            "elapsed_s": self._elapsed(now_ms),
            "session_ws": self.session_ws,
            "total_wh": self.eeprom.get("total_wh"),
            "eeprom_writes": self.eeprom.writes,
            "eeprom": self.eeprom.as_dict(),
            "heartbeat": {"interval": self.eeprom.get("hs_interval"),
                          "current": self.eeprom.get("hs_current"),
                          "trigger": self.hs_trigger},
            "echo": self.echo,
            "boots": self.boots,
            "rebooting": self.rebooting,
            "command_counts": dict(self.command_counts),
            "commands_total": sum(self.command_counts.values()),
            "rejected": dict(self.rejected),
            "rtc": self.rtc_now(now_ms).isoformat(),
            "ev": self.ev.snapshot() if self.ev is not None else None,
        }
