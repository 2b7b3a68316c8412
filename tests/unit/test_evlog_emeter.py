# The event log's ring of blocks (bounded size, bytes written per event) and the energy
# meter's roll-over and save policy, on real files in a scratch folder. Both interpreters.
import json
import os
import sys

import claims as C
import clock
import emeter
import eventlog
from energy import EnergyMeter
from events import Bus
from rapi.model import EvseModel

BASE = "/tmp/oevse-ut-" + sys.implementation.name


def _rmtree(p):
    try:
        names = os.listdir(p)
    except OSError:
        return
    for n in names:
        q = p + "/" + n
        try:
            os.remove(q)
        except OSError:
            _rmtree(q)
    os.rmdir(p)


class _Board:
    def __init__(self, d):
        self.data_dir = d


class _Gw:
    def __init__(self, name):
        d = BASE + "-" + name
        _rmtree(d)
        try:
            os.mkdir(BASE[:BASE.rfind("/")])
        except OSError:
            pass
        os.mkdir(d)
        self.board = _Board(d)
        self.bus = Bus()
        self.model = EvseModel(self.bus)
        self.claims = C.Claims(lambda: (6, 32))
        self.evlog = None
        self.up = 100

    def divert_mode(self):
        return 1

    def uptime(self):
        return self.up


def test_event_log_ring_is_bounded_and_costs_one_line_per_event():
    gw = _Gw("evlog")
    clock.start_unset()
    for i in range(3):
        eventlog.log(gw, "notification", "early %d" % i)  # no clock yet: waits in RAM
    assert gw.evlog[5] and gw.evlog[3] == 0
    clock.set_time(1782900000, "manual")
    gw.up = 130
    eventlog.flush(gw)
    first = eventlog.block(gw, 0)
    assert [e["message"] for e in first] == ["early 0", "early 1", "early 2"]
    assert first[0]["time"] == "2026-07-01T09:59:30Z"  # 30 s before the clock was set
    n = 400
    for i in range(n):
        gw.model.shown = 1 + i % 3
        eventlog.log(gw, "warning" if i % 50 == 0 else "information")
    st = gw.evlog
    files = [f for f in os.listdir(gw.board.data_dir + "/eventlog")]
    assert len(files) == eventlog.MAX_BLOCKS == st[1] - st[0] + 1
    for f in files:
        size = os.stat(gw.board.data_dir + "/eventlog/" + f)[6]
        assert size <= eventlog.ROTATE_SIZE + 200
    # every event is one appended line: what was written is what is stored, no rewrites
    per_event = st[4] / st[3]
    assert 80 < per_event < 200
    total = 0
    for f in files:
        total += os.stat(gw.board.data_dir + "/eventlog/" + f)[6]
    kept = 0
    for i in range(st[0], st[1] + 1):
        kept += len(eventlog.block(gw, i))
    assert abs(total - kept * per_event) < per_event * 2
    e = eventlog.block(gw, st[1])[-1]
    assert e["type"] in ("information", "warning") and e["managerState"] == "active"
    assert eventlog.block(gw, st[0] - 1) is None
    # a line cut by a power loss is skipped, the rest of the block read
    with open("%s/eventlog/%d" % (gw.board.data_dir, st[1]), "a") as f:
        f.write('{"t": 17829')
    eventlog.log(gw, "information")
    assert len(eventlog.block(gw, gw.evlog[1])) >= 1
    # a reboot finds the ring again from the file names
    gw.evlog = None
    idx = eventlog.index(gw)
    assert (idx["min"], idx["max"]) == (st[0], st[1])


def _meter(name):
    gw = _Gw(name)
    gw.config = None
    m = EnergyMeter(gw)
    return gw, m


def _day(y, mo, d, h=12):
    return clock.days_from_civil(y, mo, d) * 86400 + h * 3600


def test_energy_meter_rolls_over_in_local_time_and_saves_rarely():
    clock.set_zone("UTC0")
    clock.set_time(_day(2026, 6, 30), "manual")  # a Tuesday
    gw, m = _meter("emeter")
    m.add_ctl(5000)  # first run: the controller's total is the start
    assert m.wh[0] == 5000 and m.imported and m.writes == 1
    gw.bus.publish({"state": 3})
    m.add_session(0)
    for ws in range(0, 36000 * 10 + 1, 36000):  # 10 Wh per reading
        gw.bus.publish({"wattsec": ws})
    assert m.wh == [5100, 100, 100, 100, 100] and m.switches == 1
    emeter.step(m)  # charging, first step: the date is set and saved
    w = m.writes
    for i in range(20):
        gw.bus.publish({"wattsec": 36000 * (11 + i)})
        emeter.step(m)  # charging, saved less than SAVE_S ago: nothing written
    assert m.writes == w and m.dirty and m.wh[1] == 300
    gw.bus.publish({"state": 1})
    emeter.step(m)
    assert m.writes == w + 1 and not m.dirty
    for i in range(20):
        emeter.step(m)  # idle, nothing new: nothing written
    assert m.writes == w + 1
    clock.set_time(_day(2026, 7, 1), "manual")  # next day, same week (Sunday starts it)
    emeter.step(m)
    assert m.wh == [5300, 0, 300, 0, 300]  # July: a new month
    clock.set_time(_day(2026, 7, 5), "manual")  # Sunday
    emeter.step(m)
    assert m.wh == [5300, 0, 0, 0, 300]
    clock.set_time(_day(2027, 1, 1), "manual")
    emeter.step(m)
    assert m.wh == [5300, 0, 0, 0, 0]
    with open(gw.board.data_dir + "/emeter.json") as f:
        d = json.load(f)
    assert d["to"] == 5300 and d["sw"] == 1
    # a reboot: the figures come back
    m2 = EnergyMeter(gw)
    assert m2.wh == m.wh and m2.switches == 1 and m2.date == m.date
    m2.reset(False, False)
    assert m2.wh[0] == 5300
    m2.last_ctl = 7000
    m2.reset(True, True)
    assert m2.wh[0] == 7000 and m2.switches == 0
    m2.reset(True, False)
    assert m2.wh[0] == 0
