"""The fault and attack suite at full size (`make faults`, also part of `make bench`):
RAPI corruption, controller silence and reboot, broker restarts, Emoncms down and slow,
WiFi outages, 200 power cuts during saves, HTTP and MQTT fuzz, cross-site requests, against
the firmware under MicroPython and the virtual EVSE. Prints one table (docs/faults.md).
tests/system/test_faults.py runs the same rows small inside `make test`.

    python bench/faults_bench.py [--quick] [--form src|mpy|frozen]
    python bench/faults_bench.py --rapi-only SECONDS   # the corruption row alone, longer,
                                                       # with every pilot excursion's length
    python bench/faults_bench.py --saves-only N        # the damaged-$SC row alone, N times
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in ("tests/system", "tests/tools", "firmware", "boards/unix"):
    sys.path.insert(0, os.path.join(ROOT, p))

import faults  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the small counts of make test")
    ap.add_argument("--form", default="src", help="firmware form (tests/system/harness.py)")
    ap.add_argument("--rapi-only", type=int, metavar="SECONDS",
                    help="run only the RAPI corruption row, this long")
    ap.add_argument("--saves-only", type=int, metavar="N",
                    help="run only the damaged-$SC row, N times")
    a = ap.parse_args()
    if a.rapi_only or a.saves_only:
        row, ex = faults.corruption_only(a.rapi_only, a.form, a.saves_only or 0)
        print(faults.table([row]))
        print("\n".join(row.notes))
        for pr in row.problems:
            print("problem:", pr)
        ex.sort()
        print("pilot excursions: %d; lengths (s) median %.2f, 90th %.2f, max %.2f; over %.0f s: %d"
              % (len(ex), ex[len(ex) // 2] if ex else 0, ex[len(ex) * 9 // 10] if ex else 0,
                 ex[-1] if ex else 0, faults.Monitor.EXCURSION_S,
                 len([e for e in ex if e > faults.Monitor.EXCURSION_S])))
        return 0 if row.ok() else 1
    scale = faults.QUICK if a.quick else faults.FULL
    print("fault and attack suite (%s, firmware form %s)" % ("quick" if a.quick else "full", a.form),
          flush=True)
    rows = faults.run(scale, a.form, out=lambda t: print(t, flush=True))
    print()
    print(faults.table(rows))
    print()
    print(faults.notes(rows))
    bad = [r for r in rows if not r.ok()]
    for r in bad:
        print("FAILED %s: %s" % (r.name, "; ".join(r.problems)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
