"""Memory benchmark on the MicroPython unix port: for the source tree (firmware/*.py, compiled
at import as on a board without precompiled files) and the precompiled tree (build/unix-mpy,
what `make mpy` builds), the smallest heap at which the whole firmware boots, connects to the
virtual EVSE and serves /status plus one WebSocket client for --hold seconds (bisection,
in `wK` units: 32-bit words, so 112wK is the grown ESP32 heap), and the heap in use after
boot (total - /status free_heap) with a large heap.

64-bit unix figures are roughly 1.7-2x the ESP32's (GC blocks of 32 B instead of 16 B).

Usage: .venv/bin/python bench/memory_bench.py [--hold S] [--step N] [--tree py|mpy|both] [--mqtt]"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from test_memory import ensure_mpy_tree, heap_total, min_heap, run_gate, wk  # noqa: E402

ESP32_BOOT, ESP32_GROWN = 56, 112  # Python heap on a stock ESP32_GENERIC, in KiB / wK


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hold", type=float, default=30, help="seconds served at each heap (default 30)")
    ap.add_argument("--step", type=int, default=8, help="bisection resolution in wK (default 8)")
    ap.add_argument("--lo", type=int, default=64, help="known-failing heap in wK (default 64)")
    ap.add_argument("--hi", type=int, default=256, help="known-passing heap in wK (default 256)")
    ap.add_argument("--tree", choices=("py", "mpy", "both"), default="both")
    ap.add_argument("--mqtt", action="store_true", help="MQTT enabled against a local mosquitto")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    ensure_mpy_tree()
    trees = ("py", "mpy") if a.tree == "both" else (a.tree,)
    rows = []
    broker = None
    if a.mqtt:
        from mosquitto import Broker

        broker = Broker()
        broker.start()
    port = broker.port if broker else None
    try:
        for tree in trees:
            big = run_gate(tree, "1024wK", min(a.hold, 10), mqtt_port=port)
            if not big["ok"]:
                raise SystemExit("%s tree does not run even at 1024wK: %s\n%s" % (tree, big["why"], big["log"]))
            n, best = min_heap(tree, a.lo, a.hi, a.hold, a.step, a.verbose, mqtt_port=port)
            rows.append((tree, n, best, big))
    finally:
        if broker:
            broker.stop()
    print()
    print("whole firmware (EVSE link, /status, 1 WebSocket, MQTT %s), unix x64, hold %gs" % (
        "on" if a.mqtt else "off", a.hold))
    print("%-5s %9s %14s %16s %16s %18s %11s" % (
        "tree", "min heap", "= bytes (x64)", "free after boot", "free there (min)",
        "in use after boot", "ESP32 est."))
    for tree, n, best, big in rows:
        used = big["alloc"]  # heap total - /status free_heap (after gc.collect), large heap
        print("%-5s %9s %14d %16d %16d %18d %10.0fK" % (
            tree, wk(n), heap_total(wk(n)), best["free_heap"], best["free_min"], used,
            used * 0.55 / 1024))
    print("(ESP32 est. = in use x 0.55, the 64-bit -> 32-bit ratio measured for microdot; "
          "the stock ESP32 heap is %d KiB at boot, %d KiB after one growth)" % (ESP32_BOOT, ESP32_GROWN))
    for tree, n, _, _ in rows:
        verdict = "fits" if n <= ESP32_GROWN else "does NOT fit"
        print("%s tree: needs %s -> %s the grown ESP32 heap (%s); %s the boot heap (%s)" % (
            tree, wk(n), verdict, wk(ESP32_GROWN), "fits" if n <= ESP32_BOOT else "does not fit",
            wk(ESP32_BOOT)))


if __name__ == "__main__":
    main()
