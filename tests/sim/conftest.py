import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for d in (HERE, ROOT):
    if d not in sys.path:
        sys.path.insert(0, d)
