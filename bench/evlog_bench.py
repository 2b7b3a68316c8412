"""Flash wear of the event log and the energy meter, on real files (CPython, the firmware's
own eventlog.py / emeter.py with a stand-in gateway): bytes written per event against the
bytes the event occupies (write amplification at the file level), the ring's largest size,
and a model of what LittleFS programs on the chip (an append to a file copies the file's
partial last block, so an event costs about the block file's size: bounded by ROTATE_SIZE).
Then a day of charging for the energy meter: saves and bytes written.

    .venv/bin/python bench/evlog_bench.py"""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))
sys.path.insert(0, os.path.join(ROOT, "boards", "unix"))

import claims as C  # noqa: E402
import clock  # noqa: E402
import emeter  # noqa: E402
import eventlog  # noqa: E402
from energy import EnergyMeter  # noqa: E402
from events import Bus  # noqa: E402
from rapi.model import EvseModel  # noqa: E402

EVENTS = 2000


class Board:
    def __init__(self, d):
        self.data_dir = d


class Gw:
    def __init__(self, d):
        self.board = Board(d)
        self.bus = Bus()
        self.model = EvseModel(self.bus)
        self.claims = C.Claims(lambda: (6, 32))
        self.evlog = None
        self.up = 0

    def divert_mode(self):
        return 1

    def uptime(self):
        return self.up


def main():
    d = tempfile.mkdtemp(prefix="oevse-evlog-")
    try:
        gw = Gw(d)
        clock.set_zone("UTC0")
        clock.set_time(1782900000, "bench")
        edir = d + "/eventlog"
        model_prog = 0
        biggest = 0
        grown = 0  # measured on disk: how much the block files grew, event by event
        for i in range(EVENTS):
            before = gw.evlog[1] if gw.evlog else None
            try:
                size0 = os.path.getsize("%s/%d" % (edir, before)) if before is not None else 0
            except OSError:
                size0 = 0
            gw.model.shown = (1, 2, 3, 2, 1)[i % 5]
            gw.model.session_ws = i * 3600
            eventlog.log(gw, "information" if i % 7 else "notification", "" if i % 7 else "wifi connected")
            st = gw.evlog
            size = os.path.getsize("%s/%d" % (edir, st[1]))
            grown += size - (size0 if st[1] == before else 0)
            model_prog += size  # the block file's content programmed again (tail copy)
            ring = sum(os.path.getsize(edir + "/" + f) for f in os.listdir(edir))
            biggest = max(biggest, ring)
        st = gw.evlog
        per = st[4] / st[3]
        print("event log: %d events, %d B written through the file API, %.1f B per event" % (
            st[3], st[4], per))
        print("  measured on disk: the files grew %.1f B per event; write amplification at the "
              "file level %.2f (rotation only deletes a block)" % (grown / st[3], st[4] / grown))
        print("  ring: %d blocks of %d B, at most %d B on flash (largest seen %d B)" % (
            eventlog.MAX_BLOCKS, eventlog.ROTATE_SIZE,
            eventlog.MAX_BLOCKS * (eventlog.ROTATE_SIZE + int(per) + 1), biggest))
        print("  LittleFS model (an append re-programs the file's partial block): %.0f B per "
              "event, amplification %.1f (bound: %d B per event)" % (
                  model_prog / st[3], model_prog / st[4], eventlog.ROTATE_SIZE + int(per) + 1))

        # a day: 4 h of charging (a $GU reading every 5 s), the rest idle, the clock's task
        # stepping the meter every 30 s
        m = EnergyMeter(gw)
        w0, b0 = m.writes, m.bytes
        gw.bus.publish({"state": 3})
        ws = 0
        for s in range(0, 24 * 3600, 5):
            gw.up = s
            charging = s < 4 * 3600
            if charging:
                ws += 7200 * 5  # 7.2 kW
                gw.bus.publish({"wattsec": ws})
            elif s == 4 * 3600:
                gw.bus.publish({"state": 1})
            if s % 30 == 0 or s == 4 * 3600:
                emeter.step(m)
        print("energy meter: a day with 4 h charging at 7.2 kW: %d saves, %d B written, "
              "%.1f kWh counted" % (m.writes - w0, m.bytes - b0, m.wh[1] / 1000))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
