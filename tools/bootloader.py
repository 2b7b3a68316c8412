"""The ESP32's second-stage boot loader for the PC: reads the modelled flash (boards/unix/esp32.py:
otadata and the two OTA slots, files in a folder), picks the slot as ESP-IDF's boot loader does
with app rollback on, and runs that slot's image (a frozen ESP32-profile MicroPython runtime)
with the firmware's environment. A reset of the firmware (exit code 3, board.reset(); or any
other exit, as a panic reboots the chip) boots again from the flash. It is the chip's, not the
firmware's: the firmware only meets it through esp32.Partition.

The boot rule (ESP-IDF components/bootloader_support/src/bootloader_utility.c
bootloader_utility_get_selected_boot_partition, CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y as in
MicroPython v1.28.0 ports/esp32/boards/sdkconfig.base):
  * no valid otadata entry: the first OTA slot (this table has no factory app);
  * the active entry is NEW (set_boot() wrote it): it becomes PENDING_VERIFY and boots;
  * the active entry is still PENDING_VERIFY (that image reset before it marked itself
    valid): it becomes ABORTED, and the other entry, the previous image, boots;
  * a slot whose image does not verify is skipped for the other one (bootloader_utility.c
    load_boot_image tries the remaining slots).
Each otadata write is erase, then write, as on the chip (a power cut between them leaves that
sector erased: the other entry decides).

The chip's watchdog too: once the firmware has fed it (board.wdt_feed touches WDT_FILE, the
first feed arms it, as machine.WDT), no feed for WDT_MS (30 s, as boards/esp32/board.py) resets
the firmware (SIGKILL), and the next boot reads RESET_CAUSE=wdt (machine.reset_cause()).

Usage:
  python tools/bootloader.py --flash DIR write-image IMAGE   (esptool: the image, or a bundle's
                                                              image, into ota_0; otadata erased)
  python tools/bootloader.py --flash DIR run [--once]        (boot, and boot again on reset)
The firmware's environment (RAPI_TTY, HTTP_PORT, OEVSE_DATA, ...) is passed through."""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "boards", "unix"))
import esp32 as F  # noqa: E402  the flash model, shared with the firmware


def log(msg):
    print("boot: " + msg, flush=True)


def select():
    """The slot to boot, after the rollback rule's otadata writes; None when no slot has a
    valid image."""
    od = F.read_otadata()
    a = F.active_otadata(od)
    if a < 0:
        first = "ota_0"
        log("no valid otadata: first OTA slot")
    else:
        seq, state, _ = od[a]
        first = F.slot_of(seq)
        if state == F.IMG_NEW:
            F.write_otadata(a, seq, F.IMG_PENDING_VERIFY)
            log("%s is new: pending verify (rolled back unless it marks itself valid)" % first)
        elif state == F.IMG_PENDING_VERIFY:
            F.write_otadata(a, seq, F.IMG_ABORTED)
            log("%s reset before it was marked valid: aborted, rolling back" % first)
            b = F.active_otadata()
            first = F.slot_of(F.read_otadata()[b][0]) if b >= 0 else "ota_0"
    for label in (first, "ota_1" if first == "ota_0" else "ota_0"):
        if F.image_ok(label):
            return label
        log("%s: no valid image" % label)
    return None


def program(label):
    """The slot's program as an executable file (on the chip the MMU maps the slot; here a
    copy under <flash>/.run, named by its SHA-256, made once)."""
    n, digest = F.image_head(label)
    d = os.path.join(F.flash_dir(), ".run")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, digest.hex()[:16])
    if not os.path.exists(path):
        tmp = path + ".%d" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(F.flash_read(label, F.HEAD, n))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return path


def watch(p, wdt, wdt_ms):
    """Wait for the firmware to end; (exit code, reset cause of the next boot). Once it has fed
    the watchdog, a gap of wdt_ms ends it as the chip's watchdog would."""
    while True:
        try:
            rc = p.wait(0.2)
            return rc, "soft"
        except subprocess.TimeoutExpired:
            pass
        try:
            age = time.time() - os.stat(wdt).st_mtime
        except OSError:
            continue  # not armed yet
        if age * 1000 > wdt_ms:
            p.kill()
            p.wait()
            log("watchdog: no feed for %d ms: reset" % wdt_ms)
            return -9, "wdt"


def write_image(image_path):
    """What esptool does at `make deploy`: the image into ota_0, otadata erased."""
    with open(image_path, "rb") as f:
        img = f.read()
    if img[:8] == b"OEVSEOTA":  # a bundle (tools/bundle.py): its image, checked
        n = int.from_bytes(img[12:16], "little")
        body = img[64:]
        if len(body) != n or hashlib.sha256(body).digest() != img[16:48]:
            sys.exit("bootloader: the bundle's image does not match its size or SHA-256")
        img = body
    if len(img) > F.OTA_SIZE:
        sys.exit("bootloader: image larger than the slot")
    n = (len(img) + F.SECTOR - 1) // F.SECTOR * F.SECTOR
    F.flash_erase("ota_0", 0, n)
    F.flash_write("ota_0", 0, img)
    F.flash_erase("otadata", 0, 2 * F.SECTOR)


def run(once=False):
    child = [None]

    def stop(*_):
        if child[0] is not None and child[0].poll() is None:
            child[0].terminate()
            try:
                child[0].wait(5)
            except subprocess.TimeoutExpired:
                child[0].kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wdt_ms = int(os.getenv("WDT_MS") or "30000")
    cause = "power-on"
    while True:
        label = select()
        if label is None:
            log("no bootable image")
            return 4
        exe = program(label)
        log("booting %s" % label)
        env = dict(os.environ)
        env["OTA_RUNNING"] = label
        env["MICROPYPATH"] = ".frozen"
        # the cut counter is for the first power-on only: the test sets it per run
        wdt = os.path.join(F.flash_dir(), ".wdt")
        try:
            os.remove(wdt)
        except OSError:
            pass
        env["WDT_FILE"] = wdt
        env["RESET_CAUSE"] = cause
        child[0] = subprocess.Popen([exe, "-c", "import startup; startup.main()"], env=env)
        rc, cause = watch(child[0], wdt, wdt_ms)
        child[0] = None
        if once:
            return rc
        log("%s exited with %d: reset" % (label, rc))
        if rc != 3:
            time.sleep(0.5)  # a crash: the chip's panic handler reboots after a moment


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--flash", help="the flash folder (OEVSE_FLASH)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write-image")
    w.add_argument("image")
    r = sub.add_parser("run")
    r.add_argument("--once", action="store_true")
    a = ap.parse_args(argv)
    if a.flash:
        os.environ["OEVSE_FLASH"] = os.path.abspath(a.flash)
    if a.cmd == "write-image":
        write_image(a.image)
        return 0
    return run(a.once)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
