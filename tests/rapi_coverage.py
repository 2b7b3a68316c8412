"""Which RAPI messages each passing test asserted on the virtual EVSE, per controller profile.

Recorded while the tests run (tests/conftest.py installs the hooks): a test counts for a
message when it passed and, on a virtual EVSE of profile P,
  - sent the command itself and got the controller's reply back (tests/sim: sim_helpers.Rig
    send/raw; the command must have been executed, i.e. logged by the controller), or got an
    async line ($AT $AB $AN $WF) or a reply ($OK $NK) back from it, or
  - asked the controller's command log for that command and got executions of it back
    (SimServer.executed(), the system tests: the gateway sent it and the test checked it).
A test that merely runs while the gateway polls does not count. A complete run writes
build/rapi-coverage.json (the whole suite, every test outside tests/docs passed); it fails
when a message and profile of the committed docs/rapi-coverage.json was asserted by no test,
and notes any other difference; tools/rapi_conformance.py --update then takes it and rebuilds
docs/rapi-conformance.md."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "rapi-coverage.json")
DOCS = os.path.join(ROOT, "docs", "rapi-coverage.json")

CURRENT = set()  # (message, profile) observed by the running test
RESULT = {}  # message -> profile -> set of test files
FAILED = set()  # tests that failed (outside tests/docs)


def saw(profile, names):
    for n in names:
        if n and n[0] == "$":
            CURRENT.add((n[1:3], profile))


def commit(nodeid):
    f = nodeid.split("::")[0]
    if f.startswith("tests/"):
        f = f[6:]
    for msg, prof in CURRENT:
        RESULT.setdefault(msg, {}).setdefault(prof, set()).add(f)
    CURRENT.clear()


def as_json():
    return dict((m, dict((p, sorted(fs)) for p, fs in sorted(ps.items())))
                for m, ps in sorted(RESULT.items()))


def load(path=DOCS):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return {}
