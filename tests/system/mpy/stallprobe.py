# The firmware with a loop-stall probe: a 10 ms ticker inside the firmware's asyncio loop
# records how late it wakes. A wake-up whose interval overlapped one of the radio model's
# scans (wlan.driver().scan_windows: a scan blocks the process, as on the chip) counts as a
# scan stall, any other as a loop stall. Prints "STALL <worst outside scans> <worst scan>"
# whenever either grows, and "LATE <ms> <0|1 scan>" for every wake-up 20 ms late or more, so a
# test can judge its own window. Run instead of main.py (tests/system/harness.py Rig(probe=True)).
import asyncio
import time

import startup
import wlan

worst = [0, 0]


def _in_scan(a, b):
    for s, e in wlan.driver().scan_windows:
        if time.ticks_diff(e, a) >= 0 and time.ticks_diff(b, s) >= 0:
            return True
    return False


async def ticker():
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(10)
        now = time.ticks_ms()
        late = time.ticks_diff(now, last) - 10
        i = 1 if _in_scan(last, now) else 0
        if late >= 20:
            print("LATE %d %d" % (late, i))
        if late > worst[i]:
            worst[i] = late
            print("STALL %d %d" % (worst[0], worst[1]))
        last = now


_run = startup.run


async def run(gw):
    asyncio.create_task(ticker())
    await _run(gw)


startup.run = run
startup.main()
