import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("firmware", "boards/unix", "tests/unit", ""):
    d = os.path.join(ROOT, p)
    if d not in sys.path:
        sys.path.insert(0, d)
