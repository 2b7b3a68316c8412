# rapi/boot.py: what the monitor does rarely: the read-out after first contact or a controller
# reboot, arming heartbeat supervision, and saving the user's maximum current. Imported for
# each run and dropped after (rapi/monitor.py), so this code does not stay in the heap.
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
    ln = await mon._cmd("$GF")
    if ln and ln.ok:
        v = M.parse_ints(ln.fields, 3, 16)
        if v:
            m.set("gfci", v[0])
            m.nognd, m.stuck = v[1], v[2]
    ln = await mon._cmd("$GI")
    if ln and ln.ok and ln.fields:
        m.serial = ln.fields[-1]
    await mon._read_gs()
    await mon._read_gu()
    await mon._read_gp()
    await heartbeat_setup(mon)
    m.commit()
    return mon._state_known and mon._pilot_known


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


async def save_soft_max(mon):
    """The user's maximum current is the controller's own saved setting ($SC n writes
    its EEPROM, once per change); the controller clamps it to the hardware maximum."""
    amps = mon.config.get("max_current_soft")
    if amps < 6:
        mon._soft_pending = False
        return
    gc = await mon._gc()
    if gc is not None and gc[3] == amps:
        mon._soft_pending = False
        return
    mon.max_known = amps  # our own change: the monitor must not set it back
    ln = await mon._cmd("$SC %d" % amps)
    if ln is not None:
        mon._soft_pending = False
    mon._pilot_known = False
    await mon._read_gc()


async def restore_max(mon, seen):
    """The controller's saved maximum rose from mon.max_known to `seen` A without the
    gateway (a corrupted command, or the controller's own menu): set it back, one EEPROM
    write. The user's way to raise it is the gateway's max_current_soft setting."""
    print("rapi: controller maximum rose from %d to %d A, not by the gateway: set back"
          % (mon.max_known, seen))
    await mon._cmd("$SC %d" % mon.max_known)
    mon._pilot_known = False
