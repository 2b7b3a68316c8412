# Project-owned test runner for MicroPython: imports every tests/unit/test_*.py module,
# calls each test_* function, prints a summary and exits 1 on any failure.
# Usage: MICROPYPATH=.frozen:firmware:boards/unix:build/mpylib:tests/unit micropython tests/run_mpy.py [name...]
import os
import sys

try:
    from sys import print_exception
except ImportError:
    import traceback

    def print_exception(e):
        traceback.print_exception(type(e), e, e.__traceback__)


def main(argv):
    here = argv[0].rsplit("/", 1)[0] if "/" in argv[0] else "."
    unit = here + "/unit"
    names = sorted(f[:-3] for f in os.listdir(unit) if f.startswith("test_") and f.endswith(".py"))
    if len(argv) > 1:
        names = [n for n in names if n in argv[1:]]
    passed = failed = 0
    for name in names:
        try:
            mod = __import__(name)
        except Exception as e:
            print("ERROR importing", name)
            print_exception(e)
            failed += 1
            continue
        for attr in sorted(dir(mod)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(mod, attr)
            if not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except Exception as e:
                failed += 1
                print("FAIL %s.%s" % (name, attr))
                print_exception(e)
    print("micropython: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


main(sys.argv)
