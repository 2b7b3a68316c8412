# Heap cost of importing one module, run under a MicroPython (bench/memory_bench.py).
#   micropython import_cost.py with <module>   -> "<bytes> <module> <other new modules...>"
#   micropython import_cost.py deps <m1> <m2>  -> "<bytes>" for importing just those
# Exclusive cost of a module = "with" - "deps" of the modules it pulled in: each figure
# includes its share of qstr pool growth, which lands on whichever import needs it.
import gc
import sys


def cost(names):
    gc.collect()
    a = gc.mem_alloc()
    for n in names:
        __import__(n)
    gc.collect()
    return gc.mem_alloc() - a


if sys.argv[1] == "with":
    before = set(sys.modules)
    n = cost([sys.argv[2]])
    new = [m for m in sys.modules if m not in before and m != sys.argv[2]]
    print(n, sys.argv[2], " ".join(new))
else:
    print(cost(sys.argv[2:]))
