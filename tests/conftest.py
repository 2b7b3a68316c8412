import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("firmware", "boards/unix", "tests/unit", ""):
    d = os.path.join(ROOT, p)
    if d not in sys.path:
        sys.path.insert(0, d)


# --- RAPI coverage (tests/rapi_coverage.py): what each passing test asserted ------------------
import json  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
import rapi_coverage as _rc  # noqa: E402
from sim import server as _server  # noqa: E402


def _executed(self, names, since=0):
    """Entries of the command log since `since` whose name is `names` (or one of them): what a
    test checks the gateway sent. Recorded for the RAPI coverage when any came back."""
    if isinstance(names, str):
        names = (names,)
    got = [e for e in self.log_since(since) if e["name"] in names]
    _rc.saw(self.controller.profile, [e["name"] for e in got])
    return got


_server.SimServer.executed = _executed


# --- Tests that judge timing run alone ---------------------------------------------------------
# make test runs the test files in parallel workers (pytest-xdist). A test marked `exclusive`
# (loop stalls, reconnect times, answers under attack) waits until no other worker is inside a
# test and holds the others off while it runs: a shared/exclusive file lock around each test's
# whole protocol (setup, call, teardown), with a turnstile so a waiting exclusive test is not
# starved by a stream of shared ones.
def pytest_configure(config):
    config.addinivalue_line("markers", "exclusive: judges timing; runs alone in a parallel run")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import fcntl

    d = os.path.join(ROOT, "build", ".test-locks")
    os.makedirs(d, exist_ok=True)
    alone = item.get_closest_marker("exclusive") is not None
    with open(os.path.join(d, "turnstile"), "w") as gate, open(os.path.join(d, "run"), "w") as run:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(run, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(run, fcntl.LOCK_UN)


# Longest test files first: a parallel run then does not end on one of them running alone.
# (A stable sort: the order inside each file is kept.)
SLOW_FIRST = ("system/test_soak.py", "system/test_soak_psram.py", "system/test_controllers.py",
              "system/test_browser.py", "system/test_divert_gateway.py", "system/test_ota.py",
              "system/test_faults.py", "system/test_rapi.py", "system/test_shaper_gateway.py",
              "system/test_time_schedule.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        f = item.nodeid.split("::")[0]
        for i, s in enumerate(SLOW_FIRST):
            if f.endswith(s):
                return i
        return len(SLOW_FIRST)

    items.sort(key=rank)


def pytest_runtest_setup(item):
    _rc.CURRENT.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    # node ids start "tests/docs/" or "docs/" (rootdir tests/, as `pytest tests` without an
    # ini file picks it): either way the docs tests check the record and may fail on it
    if rep.failed and not item.nodeid.startswith(("tests/docs/", "docs/")):
        _rc.FAILED.add(item.nodeid)  # the docs tests check the record: they may fail on it
    if rep.when == "call":
        if rep.passed:
            _rc.commit(item.nodeid)
        _rc.CURRENT.clear()


def _merge(out):
    """A worker's record (pytest-xdist): its asserted messages and its failed tests."""
    for m, ps in out.get("rapi_cov", {}).items():
        for p, fs in ps.items():
            _rc.RESULT.setdefault(m, {}).setdefault(p, set()).update(fs)
    _rc.FAILED.update(out.get("rapi_failed", ()))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    # on the controller of a parallel run: gather what each worker recorded
    out = getattr(node, "workeroutput", None)
    if out:
        _merge(out)
    if error:
        _rc.FAILED.add("worker %s: %s" % (getattr(node, "gateway", node), error))


def pytest_sessionfinish(session, exitstatus):
    cfg = session.config
    if hasattr(cfg, "workerinput"):  # an xdist worker: hand the record to the controller
        cfg.workeroutput["rapi_cov"] = _rc.as_json()
        cfg.workeroutput["rapi_failed"] = sorted(_rc.FAILED)
        return
    whole = [os.path.abspath(a) for a in cfg.args] == [os.path.join(ROOT, "tests")] and \
        not cfg.getoption("keyword") and not cfg.getoption("markexpr") and \
        not cfg.getoption("collectonly") and \
        not cfg.getoption("maxfail") and not _rc.FAILED and \
        exitstatus in (0, pytest.ExitCode.TESTS_FAILED)
    got = _rc.as_json()
    if not whole:
        return  # a partial run must not overwrite the record of a complete one
    os.makedirs(os.path.dirname(_rc.BUILD), exist_ok=True)
    with open(_rc.BUILD, "w") as f:
        json.dump({"complete": whole, "messages": got}, f, indent=1, sort_keys=True)
    old = _rc.load()
    if got != old:
        print("\nRAPI coverage differs from docs/rapi-coverage.json: "
              "run python tools/rapi_conformance.py --update")
    # Which test file asserted a message may vary (a test asserting "at most n" records
    # only when n > 0); a message and profile that no passing test asserted any more is a
    # claim of the committed table that is no longer true: that fails the run.
    lost = sorted("%s/%s" % (m, p) for m, ps in old.items() for p in ps
                  if not got.get(m, {}).get(p))
    if lost:
        print("RAPI coverage lost (no passing test asserted them): " + " ".join(lost))
        session.exitstatus = 1
