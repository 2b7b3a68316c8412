# rapi/boot.py: what the monitor does rarely: the read-out after first contact or a controller
# reboot, arming heartbeat supervision, the fault counters after a trip and the controller's
# own delay timer. Imported for each run and dropped after (rapi/monitor.py), so this code
# does not stay in the heap.
from rapi import model as M
from rapi.monitor import HB_ACK


async def boot(mon):
    """Read settings after first contact or a controller reboot; re-arm heartbeat."""
    m = mon.m
    ln = await mon._cmd("$GE")
    if ln and ln.ok:
        v = M.parse_ints(ln.fields, 2, 16)
        if v:
            m.set("flags", v[1])
            if not v[1] & M.ECF_BUTTON_DISABLED:
                # Take the front button (as the C++ gateway): its presses then come as
                # $AN and toggle the manual override through the claims; left to the
                # controller, a press to pause would be undone by the next apply().
                # Saved in the controller's EEPROM, so written once, not every boot.
                ln = await mon._cmd("$FF B 0")
                if ln and ln.ok:
                    m.set("flags", v[1] | M.ECF_BUTTON_DISABLED)
    await mon._read_gc()
    await read_faults(mon)
    ln = await mon._cmd("$GA")
    v = M.parse_ints(ln.fields, 2) if ln and ln.ok else None
    if v:
        m.scale, m.offset = v
    ln = await mon._cmd("$GI")  # $NK before 7.1.5: no serial
    if ln and ln.ok and ln.fields:
        m.serial = ln.fields[-1]
    await mon._read_gs()
    await mon._read_gu()
    await mon._read_gp()
    await heartbeat_setup(mon)
    await delay_timer(mon)
    m.commit()
    return mon._state_known and mon._pilot_known


async def read_faults(mon):
    """The trip counters ($GF, hex): at boot and after every fault state, since each trip
    counts (the C++ gateway reads them on every error $AT)."""
    mon._faults = False
    ln = await mon._cmd("$GF")
    v = M.parse_ints(ln.fields, 3, 16) if ln and ln.ok else None
    if v is None:
        mon._faults = ln is None  # no answer: again at the next tick
        return
    m = mon.m
    m.set("gfci", v[0])
    m.set("nognd", v[1])
    m.set("stuck", v[2])
    m.commit()


async def heartbeat_setup(mon):
    """Arm heartbeat supervision as configured. If the reply is lost, $GY tells whether
    it took; the tick retries until the controller reports the configured values."""
    iv = mon.config.get("heartbeat_interval")
    cur = mon.config.get("heartbeat_current")
    ln = await mon._cmd("$GY")
    v = M.parse_ints(ln.fields, 3) if ln and ln.ok else None
    if v is None or v[0] != iv or v[1] != cur:
        ln = await mon._cmd("$SY %d %d" % (iv, cur))
        v = M.parse_ints(ln.fields, 3) if ln and ln.ok else None
    if v is None:
        mon.hb_ok = False
        return False
    mon.hb_ok = iv > 0
    mon.hb_armed = True
    if v[2] == 2:  # a pulse was missed before we got here: acknowledge it
        await mon._cmd("$SY")
        await mon._cmd("$SY %d" % HB_ACK)
    return True


def _window(v):
    """$GD fields -> "HH:MM-HH:MM", "" when off, None when not a valid time."""
    if v is None:
        return None
    if not any(v):
        return ""
    if v[0] > 23 or v[2] > 23 or v[1] > 59 or v[3] > 59:
        return None
    return "%02d:%02d-%02d:%02d" % v


async def _gd(mon):
    ln = await mon._cmd("$GD")
    if ln is not None and not ln.ok:
        return ""  # no DELAYTIMER in this build: no timer
    return _window(M.parse_ints(ln.fields, 4) if ln else None)


async def delay_timer(mon):
    """The controller's own delay timer ($GD; rapi.md 2.3: it undoes $FE outside its window
    and $FS inside it, about once a second). Owner "gateway" (the default) takes it over as
    the C++ gateway's import_timers() does: the window goes into the gateway's settings,
    whose timer (delay_timer.py) claims the state, and the controller's is cleared
    ($ST 0 0 0 0, read back), so the two never fight. Owner "controller" leaves it in
    charge; the monitor then changes the state through its manual override ($F1) only for
    a claim. Needs the controller's clock ($GT), which the timer runs on."""
    mon._need_timer = False
    m = mon.m
    cfg = mon.config
    mine = cfg.get("delay_timer_owner") != "controller"
    win = await _gd(mon)
    if win is None:
        mon._need_timer = True  # no answer or nonsense: again later
        return
    if not mine and not win and cfg.get("delay_timer"):
        # handed back: the window the gateway ran goes into the controller again
        s = cfg.get("delay_timer")
        ln = await mon._cmd("$ST %d %d %d %d" % (int(s[0:2]), int(s[3:5]), int(s[6:8]),
                                                   int(s[9:11])))
        if ln is not None and ln.ok and await _gd(mon) == s:
            cfg.update({"delay_timer": ""})
            win = s
            print("rapi: delay timer handed back to the controller", s)
    if not win:
        mon.ctl_timer = False
        return
    now = None
    if mine:
        import delay_timer as T  # only now: its service runs once a window is taken over

        now = await T.minute_of_day(mon.rapi)
        if now is None:
            print("rapi: the controller's clock cannot be read: its delay timer stays in charge")
    if now is None:
        mon.ctl_timer = True
        m.set("timer", win)
        m.commit()
        return
    # the claim goes in before the controller's timer is cleared: no start in between
    T.claim(mon.claims, T.inside(T.parse(win), now))
    ln = await mon._cmd("$ST 0 0 0 0")
    if ln is None or not ln.ok or await _gd(mon) != "":
        print("rapi: the controller's delay timer could not be cleared: it stays in charge")
        mon.claims.release(T.CLIENT)
        mon.ctl_timer = True
        m.set("timer", win)
        m.commit()
        return
    mon.ctl_timer = False
    cfg.update({"delay_timer": win})
    m.set("timer", win)
    m.commit()
    print("rapi: took over the controller's delay timer", win)


async def restore_max(mon, seen):
    """The controller's saved maximum rose from mon.max_known to `seen` A right after an
    "$SC n V" of ours, so by that command damaged on the wire: set it back, one EEPROM
    write. (The gateway's max_current_soft setting sets mon.max_known first,
    rapi/settings.py; a change at the controller's menu is followed, rapi/monitor.py.)"""
    print("rapi: controller maximum rose from %d to %d A after a damaged $SC: set back"
          % (mon.max_known, seen))
    # the same saved value again is harmless, so a lost or damaged reply is tried again
    # at once, not at the next round of reads: 6 tries, as at 5 % byte noise about one
    # round trip in three gets through whole (all 6 lost: about 1 time in 10)
    want = [str(mon.max_known)]
    for _ in range(6):
        ln = await mon._cmd("$SC %d" % mon.max_known)
        if ln is not None and ln.ok and ln.fields == want:
            break
    mon._pilot_known = False


async def read_back_sc(mon, amps):
    """The reply to our "$SC amps V" was lost on a noisy link. The command may have been
    applied, not applied, or (two flipped bits in one column pass the XOR checksum) made
    a saved "$SC" of a higher number. Read $GC at once and act on the one read: a raised
    maximum is set back; a pilot that is not `amps` gets the set once more (a read showed
    the controller differs, so this is no blind retry: an applied set is never repeated
    unless that read was itself damaged past its checksum)."""
    # more tries than a routine read: at 5 % byte noise a $GC reply arrives whole about one
    # time in three, and the pilot may be above the limit until this read gets through
    v = await mon._gc(5)
    if v is None:
        return  # unread: the monitor's next pass reads again (RETRY_MS), $GC first
    if mon.max_known and v[3] > mon.max_known:
        await restore_max(mon, v[3])
        return
    m = mon.m
    if v[2] != amps:
        ln = await mon._cmd("$SC %d V" % amps)
        if ln is None or not ln.ok or ln.fields != [str(amps)]:
            return
    elif v[3] != mon.max_known:
        return  # a lower maximum (the controller's menu): the usual two reads decide
    m.set("pilot", amps)
    mon._pilot_known = True
    mon._sc_v = False
