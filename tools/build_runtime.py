"""Build the ESP32-profile MicroPython for the PC from the pinned source (`make runtime`).

The source is ../shared/micropython/micropython-1.28.0-src.tar.gz (the release users flash;
its PROVENANCE.md lists the tried build commands). It is checked against its SHA-256,
unpacked once under build/mpsrc/, and the unix port is built with our variant
(tools/esp32_unix/: 32-bit words, single-precision floats, a 56 KB GC heap that grows once to
about 110 KB, as a stock ESP32_GENERIC without PSRAM):

  build/mp32/micropython         32-bit, asyncio frozen (as stock ESP32 firmware) and the radio
                                 model (boards/unix/wlan.py: C on the chip): runs the .mpy tree
                                 that `make deploy` puts on a board
  build/mp32-frozen/micropython  the same, with the gateway frozen in (mirrors
                                 boards/esp32/manifest.py), to measure the frozen form
  build/mp64/micropython         the same variant, 64-bit (only for the side-by-side figures
                                 of `make bench`; built on request)

Usage: .venv/bin/python tools/build_runtime.py [plain] [frozen] [x64]   (default: plain frozen)
Needs gcc with i386 multilib (Debian: gcc-multilib; `make deps` installs it)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_TAR = os.environ.get("MICROPYTHON_SRC") or os.path.join(
    os.path.dirname(ROOT), "shared", "micropython", "micropython-1.28.0-src.tar.gz")
SRC_SHA256 = "f774417c3ac635727083b5aae543bcc81b5fe66f159e2b96d82ab771d3aa2782"
TOP = "micropython-1.28.0"
SRC_DIR = os.path.join(ROOT, "build", "mpsrc")
VARIANT_SRC = os.path.join(ROOT, "tools", "esp32_unix")
FROZEN_MANIFEST = os.path.join(VARIANT_SRC, "manifest_frozen.py")
PLAIN_MANIFEST = os.path.join(VARIANT_SRC, "manifest.py")
# PROVENANCE.md caveat 2: pin the version string and build date (reproducible builds).
MAKE_VARS = ["MICROPY_PY_FFI=0", "MICROPY_GIT_TAG=v1.28.0", "MICROPY_GIT_HASH=e0e9fbb17",
             "SOURCE_DATE_EPOCH=1775481169", "VARIANT=esp32"]

# name -> (output dir, make variables)
BUILDS = {
    "plain": ("build/mp32", ["MICROPY_FORCE_32BIT=1", "BUILD=build-esp32",
                             "FROZEN_MANIFEST=" + PLAIN_MANIFEST]),
    "frozen": ("build/mp32-frozen", ["MICROPY_FORCE_32BIT=1", "BUILD=build-esp32-frozen",
                                     "FROZEN_MANIFEST=" + FROZEN_MANIFEST]),
    "x64": ("build/mp64", ["BUILD=build-esp32-x64", "FROZEN_MANIFEST=" + PLAIN_MANIFEST]),
}


def die(msg):
    print("build_runtime: " + msg, file=sys.stderr)
    sys.exit(1)


def unpack():
    """Unpack the checked tarball into build/mpsrc (once). Returns the source tree path."""
    tree = os.path.join(SRC_DIR, TOP)
    stamp = os.path.join(SRC_DIR, ".unpacked-" + SRC_SHA256[:12])
    if os.path.exists(stamp):
        return tree
    if not os.path.exists(SRC_TAR):
        die("MicroPython source not found: %s\n  The tests need ../shared beside the checkout "
            "(or MICROPYTHON_SRC=<path to micropython-1.28.0-src.tar.gz>)." % SRC_TAR)
    h = hashlib.sha256()
    with open(SRC_TAR, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != SRC_SHA256:
        die("%s: SHA-256 %s, expected %s" % (SRC_TAR, h.hexdigest(), SRC_SHA256))
    if os.path.isdir(SRC_DIR):
        shutil.rmtree(SRC_DIR)
    os.makedirs(SRC_DIR)
    with tarfile.open(SRC_TAR) as t:
        t.extractall(SRC_DIR, filter="data")
    open(stamp, "w").close()
    return tree


def install_variant(tree):
    dst = os.path.join(tree, "ports", "unix", "variants", "esp32")
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(VARIANT_SRC):
        src = os.path.join(VARIANT_SRC, name)
        out = os.path.join(dst, name)
        with open(src, "rb") as f:
            data = f.read()
        old = None
        if os.path.exists(out):
            with open(out, "rb") as f:
                old = f.read()
        if old != data:  # keep mtimes of unchanged files, so make stays incremental
            with open(out, "wb") as f:
                f.write(data)


def build_mpy_cross(tree):
    # Built once on its own: the port's makefile would otherwise build it with the port's
    # BUILD and word-size variables and then not find it.
    if os.path.exists(os.path.join(tree, "mpy-cross", "build", "mpy-cross")):
        return
    r = subprocess.run(["make", "-C", os.path.join(tree, "mpy-cross"), "-j%d" % (os.cpu_count() or 2)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        die("building mpy-cross failed")


def build(tree, name):
    out_rel, extra = BUILDS[name]
    args = ["make", "-C", os.path.join(tree, "ports", "unix"), "-j%d" % (os.cpu_count() or 2)]
    args += MAKE_VARS + extra
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        die("building the %s runtime failed (is gcc-multilib installed? `make deps`)" % name)
    bdir = [v.split("=", 1)[1] for v in extra if v.startswith("BUILD=")][0]
    binary = os.path.join(tree, "ports", "unix", bdir, "micropython")
    out = os.path.join(ROOT, out_rel)
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "micropython.tmp")
    shutil.copyfile(binary, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, os.path.join(out, "micropython"))
    return os.path.join(out, "micropython")


# Test images for the OTA tests (tests/system/test_ota.py): the frozen runtime built from a
# copy of the firmware with one change each. "ota-b": another BUILD string (an update that
# works); "ota-bad": an image whose startup fails at every boot, "ota-hang": one that hangs
# (the boot loader, or its watchdog, must roll back). Built once per firmware version (a stamp of the sources' SHA-256) under
# build/ota-test/<name>/; the compiled port is copied from the frozen build, so only the
# frozen modules are compiled again.
TEST_IMAGES = {
    "ota-b": ('BUILD = "mpy-0.2.0"', 'BUILD = "mpy-0.2.0-ota-b"'),
    "ota-bad": ("def build():\n",
                "def build():\n    raise RuntimeError(\"test image: fails at every boot\")\n"),
    # the loop never starts: only the watchdog can end it
    "ota-hang": ("def build():\n", "def build():\n    while True:\n        pass\n"),
}


def _sources_digest():
    h = hashlib.sha256()
    for base in ("firmware", "boards", "tools/esp32_unix"):
        for d, dirs, files in sorted(os.walk(os.path.join(ROOT, base))):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".py") or base == "tools/esp32_unix":
                    with open(os.path.join(d, f), "rb") as fh:
                        h.update(f.encode() + fh.read())
    return h.hexdigest()


def build_test_image(tree, name):
    old, new = TEST_IMAGES[name]
    out = os.path.join(ROOT, "build", "ota-test", name)
    binary = os.path.join(out, "micropython")
    stamp = os.path.join(out, "stamp")
    digest = _sources_digest()
    if os.path.exists(binary) and os.path.exists(stamp) and open(stamp).read() == digest:
        return binary
    src = os.path.join(out, "src")
    if os.path.isdir(src):
        shutil.rmtree(src)
    for d in ("firmware", "boards", os.path.join("tools", "esp32_unix")):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(src, d),
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    p = os.path.join(src, "firmware", "startup.py")
    with open(p) as f:
        text = f.read()
    if old not in text:
        die("test image %s: %r not found in startup.py" % (name, old))
    text = text.replace(old, new, 1)
    if name != "ota-b":
        text = text.replace('BUILD = "mpy-0.2.0"', 'BUILD = "mpy-0.2.0-%s"' % name[4:], 1)
    with open(p, "w") as f:
        f.write(text)
    bdir = "build-esp32-" + name
    port = os.path.join(tree, "ports", "unix")
    if not os.path.isdir(os.path.join(port, bdir)) and os.path.isdir(os.path.join(port, "build-esp32-frozen")):
        shutil.copytree(os.path.join(port, "build-esp32-frozen"), os.path.join(port, bdir), symlinks=True)
    args = ["make", "-C", port, "-j%d" % (os.cpu_count() or 2)] + MAKE_VARS + [
        "MICROPY_FORCE_32BIT=1", "BUILD=" + bdir,
        "FROZEN_MANIFEST=" + os.path.join(src, "tools", "esp32_unix", "manifest_frozen.py")]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        die("building the test image %s failed" % name)
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(port, bdir, "micropython"), binary + ".tmp")
    os.chmod(binary + ".tmp", 0o755)
    os.replace(binary + ".tmp", binary)
    with open(stamp, "w") as f:
        f.write(digest)
    return binary


def main(argv):
    names = argv or ["plain", "frozen"]
    tests = [n for n in names if n in TEST_IMAGES]
    names = [n for n in names if n not in TEST_IMAGES]
    if tests:
        tree = unpack()
        install_variant(tree)
        build_mpy_cross(tree)
        for n in tests:
            print("runtime: %s -> %s" % (n, os.path.relpath(build_test_image(tree, n), ROOT)))
        if not names:
            return
    for n in names:
        if n not in BUILDS:
            die("unknown build %r (choose from %s)" % (n, ", ".join(BUILDS)))
    tree = unpack()
    install_variant(tree)
    build_mpy_cross(tree)
    for n in names:
        path = build(tree, n)
        print("runtime: %s -> %s" % (n, os.path.relpath(path, ROOT)))


if __name__ == "__main__":
    main(sys.argv[1:])
