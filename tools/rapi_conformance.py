"""Builds docs/rapi-conformance.md: one row per RAPI command and async message named in the
protocol reference (../shared/reference/rapi.md), with what each controller profile of the
virtual EVSE does with it (asked of the model itself), where the gateway sends or handles it,
and which passing tests asserted it, on which profiles (measured while the tests ran:
tests/rapi_coverage.py, committed as docs/rapi-coverage.json).

  python tools/rapi_conformance.py            rebuild the table from docs/rapi-coverage.json
  python tools/rapi_conformance.py --update   take build/rapi-coverage.json (written by a
                                              complete `make test`) into docs/, then rebuild
  python tools/rapi_conformance.py --check    exit 1 when the committed table is stale"""
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sim.controller import PROFILES, Controller  # noqa: E402

REF = os.path.join(ROOT, "..", "shared", "reference", "rapi.md")
OUT = os.path.join(ROOT, "docs", "rapi-conformance.md")
COVERAGE = os.path.join(ROOT, "docs", "rapi-coverage.json")
MEASURED = os.path.join(ROOT, "build", "rapi-coverage.json")

ASYNC = ("AT", "AB", "AN", "WF")  # $ST is a set command; as async it is pre-RAPI 5 only
REPLIES = ("OK", "NK")
# names commands only to refuse them without confirmation (safety checks off): not a use
REFUSE_ONLY = ("firmware/rapi/guard.py",)
ORDER = ("8.2.3", "7.1.3", "d9", "noseq", "timer")  # the table's profile columns
# Why the default profile answers $NK to a command it has no handler for (rapi.md section).
NK_WHY = {
    "G3": "NK: TIME_LIMIT not in PlatformIO builds (2.1)", "GH": "NK: CHARGE_LIMIT not in PlatformIO builds (2.1)",
    "S3": "NK: TIME_LIMIT not in PlatformIO builds (2.2)", "SH": "NK: CHARGE_LIMIT not in PlatformIO builds (2.2)",
    "SB": "NK: BOOTLOCK off by default (2.2)", "G4": "NK: AUTH_LOCK off (2.1)", "S4": "NK: AUTH_LOCK off (2.2)",
    "GM": "NK: VOLTMETER off (2.1)", "SM": "NK: VOLTMETER off (2.2)", "GO": "NK: TEMPERATURE_MONITORING_NY off (2.1); D9 only",
    "S2": "NK: removed in 8.2.x (2.2)", "T0": "NK: RAPI_T_COMMANDS off (2.4)", "Z0": "NK: never sent (2.4)",
    "SD": "NK: removed in D6.0.0 (2.5)", "SE": "NK: removed in D6.0.0 (2.5)", "SR": "NK: removed / D9 only (2.5, 2.6)",
    "SX": "NK: legacy fallback only (2.5)", "GZ": "NK: D9 only (2.6)", "GR": "NK: D9 only (2.6)",
    "SZ": "NK: D9 only (2.6)", "FC": "NK: D9 only (2.6)", "FO": "NK: D9 only (2.6)", "FH": "NK: D9 only (2.6)",
    "FK": "NK: D9 only (2.6)", "GW": "NK: D9 only (2.6)", "GL": "NK: D9 only (2.6)",
}


def ref_commands():
    text = open(REF, encoding="utf-8").read()
    names = sorted(set(re.findall(r"`\$([A-Z0-9]{2})", text)))
    return [n for n in names if n != "AS"]  # rapi.md 3: $AS does not exist


def grep(paths, token):
    """Files under paths mentioning $XX as a whole token (not $XXY)."""
    pat = re.compile(r"\$" + token + r"(?![A-Za-z0-9])")
    hits = []
    for base in paths:
        for d, _, files in os.walk(os.path.join(ROOT, base)):
            if "__pycache__" in d:
                continue
            for f in sorted(files):
                if not f.endswith(".py"):
                    continue
                p = os.path.join(d, f)
                try:
                    if pat.search(open(p, encoding="utf-8").read()):
                        hits.append(os.path.relpath(p, ROOT))
                except UnicodeDecodeError:
                    pass
    return hits


_MODELS = {}


def sim_support(name, profile):
    """What the virtual EVSE of `profile` does with the message, asked of the model."""
    if name in REPLIES:
        return "sends"
    if name in ASYNC:
        src = open(os.path.join(ROOT, "sim", "controller.py"), encoding="utf-8").read()
        if 'frame("$%s ' % name not in src:
            return "not modelled"
        return "sends"
    c = _MODELS.get(profile) or _MODELS.setdefault(profile, Controller(profile=profile, boot=False))
    if c.supports(name):
        return "yes"
    return NK_WHY.get(name, "NK: unknown command") if profile == ORDER[0] else "NK"


def asserted(cov, name):
    """'system/test_x.py (8.2.3, d9)' per test file, from the measured coverage."""
    files = {}
    for prof, fs in cov.get(name, {}).items():
        for f in fs:
            files.setdefault(f, set()).add(prof)
    out = []
    for f in sorted(files):
        ps = files[f]
        label = "all" if ps >= set(ORDER) else ", ".join(p for p in ORDER if p in ps)
        out.append("%s (%s)" % (f, label))
    return ", ".join(out) or "-"


def build(cov=None):
    if cov is None:
        try:
            with open(COVERAGE) as f:
                cov = json.load(f)
        except OSError:
            cov = {}
    assert set(ORDER) == set(PROFILES), "profiles changed: update ORDER"
    rows = []
    for n in ref_commands():
        kind = "reply" if n in REPLIES else "async" if n in ASYNC else "command"
        fw = [p for p in grep(["firmware"], n) if p not in REFUSE_ONLY]
        rows.append((n, kind) + tuple(sim_support(n, p) for p in ORDER) +
                    (", ".join(p.replace("firmware/", "") for p in fw) or "-", asserted(cov, n)))
    lines = [
        "# RAPI conformance",
        "",
        "Generated by `python tools/rapi_conformance.py` from `../shared/reference/rapi.md`, the",
        "virtual EVSE's controller profiles (`sim/controller.py` PROFILES, asked what each does with",
        "the command) and `docs/rapi-coverage.json`. `tests/docs/test_conformance.py` fails when the",
        "table is stale, when the gateway uses a command the virtual EVSE does not implement, or one",
        "no passing test asserted.",
        "",
        "**asserted by** is measured, not searched for: while the tests run, a test counts for a",
        "message on a profile when it passed and either sent the command to the virtual EVSE itself",
        "and got its reply back (or got the async line / reply from it), or asked the controller's",
        "command log for that command (`SimServer.executed`) and got executions of it back, i.e. it",
        "checked what the gateway sent (`tests/rapi_coverage.py`). A test that merely runs while the",
        "gateway polls does not count, nor do the unit tests' scripted controllers. A complete",
        "`make test` writes `build/rapi-coverage.json` and fails when it differs from the committed",
        "record; `python tools/rapi_conformance.py --update` takes it.",
        "",
        "Profiles: **8.2.3** (the default, PlatformIO EU build), **7.1.3** (RAPI 5.1.3, Arduino",
        "build with TIME_LIMIT/CHARGE_LIMIT), **d9** (9.1.0, RAPI 6.0.0), **noseq** (8.2.3 without",
        "sequence ids), **timer** (8.2.3 with its delay timer set); `sim/README.md`.",
        "",
        "| message | kind | " + " | ".join(ORDER) + " | gateway (firmware/) | asserted by (profiles) |",
        "|---|---|" + "---|" * len(ORDER) + "---|---|",
    ]
    for r in rows:
        lines.append("| `$%s` | " % r[0] + " | ".join(r[1:]) + " |")
    return "\n".join(lines) + "\n", rows


def main():
    if "--update" in sys.argv:
        with open(MEASURED) as f:
            d = json.load(f)
        if not d.get("complete"):
            sys.exit("build/rapi-coverage.json is from a partial or failing run: run make test")
        with open(COVERAGE, "w") as f:
            json.dump(d["messages"], f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", COVERAGE)
    text, _ = build()
    if "--check" in sys.argv:
        old = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        sys.exit(0 if old == text else 1)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
