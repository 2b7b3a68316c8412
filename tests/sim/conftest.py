import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for d in (HERE, ROOT):
    if d not in sys.path:
        sys.path.insert(0, d)

import rapi_coverage as _rc  # noqa: E402
import sim_helpers  # noqa: E402

_raw, _run, _press = sim_helpers.Rig.raw, sim_helpers.Rig.run, sim_helpers.Rig.press


def _raw_seen(self, data):
    n = len(self.c.log)
    out = _raw(self, data)
    # the commands the controller executed, and the replies / async lines the test got
    _rc.saw(self.c.profile, [e["name"] for e in self.c.log[n:]] + out)
    return out


def _run_seen(self, ms, step=100):
    out = _run(self, ms, step)
    _rc.saw(self.c.profile, out)
    return out


def _press_seen(self, kind):
    out = _press(self, kind)
    _rc.saw(self.c.profile, out)  # the async lines ($AN, $WF) the test got
    return out


sim_helpers.Rig.raw = _raw_seen
sim_helpers.Rig.press = _press_seen
sim_helpers.Rig.run = _run_seen
