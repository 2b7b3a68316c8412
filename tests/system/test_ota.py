"""Over-the-air update of the firmware image, on the PC's model of the ESP32's flash: the frozen
gateway (build/mp32-frozen) boots from an OTA slot through tools/bootloader.py (ESP-IDF's boot
rule with app rollback), POST /update writes a bundle (tools/bundle.py) into the other slot
through esp32.Partition (boards/unix/esp32.py), switches, and the new image confirms itself
after a stable run. Test images (tools/build_runtime.py ota-b, ota-bad, ota-hang): another
BUILD string, an image that fails at every boot, and one that hangs (the boot loader model's
watchdog resets it).

Power cuts: the whole process group (boot loader + firmware) is killed with SIGKILL at chosen
flash operations (FLASH_CUT_AT: the n-th erase or write does not happen) or at a random moment
of the new image's first boot or after it has marked itself valid; after each cut the boot
loader must bring up a gateway that answers /status, and runs the image ESP-IDF's rules say it
must. OTA_CUTS sets how many
(default 18 here, three per phase; `make ota-cuts` runs 50)."""
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from harness import ROOT, Rig, heap_total, wait_for
from test_web_support import WsClient

sys.path.insert(0, os.path.join(ROOT, "boards", "unix"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bundle as B  # noqa: E402
import esp32 as F  # noqa: E402

from tools.run import firmware_env  # noqa: E402

BOOTLOADER = os.path.join(ROOT, "tools", "bootloader.py")
IMG_A = os.path.join(ROOT, "build", "mp32-frozen", "micropython")
IMG_B = os.path.join(ROOT, "build", "ota-test", "ota-b", "micropython")
IMG_BAD = os.path.join(ROOT, "build", "ota-test", "ota-bad", "micropython")
IMG_HANG = os.path.join(ROOT, "build", "ota-test", "ota-hang", "micropython")
BUILD_A = "mpy-0.2.0"
BUILD_B = "mpy-0.2.0-ota-b"
STABLE_MS = 2000  # a boot counts as good after this long (60 s on the chip)
WDT_MS = 8000  # the watchdog of the boot loader model (30 s on the chip; a loaded machine)
BOUNDARY = "----oevseBoundary7MA4YWxkTrZu0gW"


def setup_module(module):
    # the frozen runtime is current (harness.ensure_form) and the test images built once
    from harness import ensure_form

    import fcntl

    ensure_form("frozen")
    # under the runtime builds' lock (harness.ensure_form): the test images start from a copy
    # of the frozen build, which another worker must not be rebuilding meanwhile
    with open(os.path.join(ROOT, "build", ".ensure-form.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build_runtime.py"), "ota-b",
                        "ota-bad", "ota-hang"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


_images = {}


def image(path):
    if path not in _images:
        _images[path] = B.pc_image(path)
    return _images[path]


def multipart(data, name="firmware.bin"):
    pre = ("--%s\r\nContent-Disposition: form-data; name=\"firmware\"; filename=\"%s\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n" % (BOUNDARY, name)).encode()
    return pre + data + ("\r\n--%s--\r\n" % BOUNDARY).encode()


def upload(port, data, timeout=60, raw=False):
    """POST /update; (status, text). A connection cut by a power cut raises OSError."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    body = data if raw else multipart(data)
    ctype = "application/octet-stream" if raw else "multipart/form-data; boundary=" + BOUNDARY
    c.request("POST", "/update", body=body, headers={"Content-Type": ctype})
    r = c.getresponse()
    text = r.read().decode(errors="replace")
    c.close()
    return r.status, text


class Flash:
    """The test's view of a rig's modelled flash (boards/unix/esp32.py, run in this process)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self._old = os.environ.get("OEVSE_FLASH")
        os.environ["OEVSE_FLASH"] = self.path
        return F

    def __exit__(self, *a):
        if self._old is None:
            os.environ.pop("OEVSE_FLASH", None)
        else:
            os.environ["OEVSE_FLASH"] = self._old


def otadata(path):
    """(boot slot, state of the active entry or None)."""
    with Flash(path):
        od = F.read_otadata()
        a = F.active_otadata(od)
        return F.boot_label(), (od[a][1] if a >= 0 else None)


class OtaRig(Rig):
    """A Rig whose firmware is booted by tools/bootloader.py from a modelled flash holding
    image A in ota_0 (as `make deploy` leaves a board)."""

    def start_firmware(self, cut_at=None, oplog=None):
        self.flash = os.path.join(self.tmp, "flash")
        if not os.path.isdir(self.flash):
            a = os.path.join(self.tmp, "a.img")
            with open(a, "wb") as f:
                f.write(image(IMG_A))
            subprocess.run([sys.executable, BOOTLOADER, "--flash", self.flash, "write-image", a],
                           check=True)
        env = firmware_env(self.link, self.http_port, self.data, self.extra_env)
        env.update({"OEVSE_FLASH": self.flash, "WDT_MS": str(WDT_MS),
                    "STABLE_MS": str(getattr(self, "stable_ms", STABLE_MS))})
        for k in ("FLASH_CUT_AT", "FLASH_OPLOG", "OTA_RUNNING"):
            env.pop(k, None)
        if cut_at:
            env["FLASH_CUT_AT"] = str(cut_at)
        if oplog:
            env["FLASH_OPLOG"] = oplog
        try:
            os.remove(os.path.join(self.flash, ".ops"))
        except OSError:
            pass
        self._log = open(self.log_path, "ab")
        self.fw = subprocess.Popen([sys.executable, BOOTLOADER, "--flash", self.flash, "run"],
                                   cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        self.t_start = time.monotonic()

    def stop_firmware(self):
        if self.fw and self.fw.poll() is None:
            try:
                os.killpg(self.fw.pid, signal.SIGTERM)
                self.fw.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.power_cut()
        if self.fw:
            self._log.close()
        self.fw = None

    def power_cut(self):
        """SIGKILL to the boot loader and the firmware at once."""
        try:
            os.killpg(self.fw.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.fw.wait(10)

    def build(self):
        return self.get("/config", timeout=2)[1]["build"]

    def wait_build(self, build, timeout=20):
        return wait_for(lambda: self.get("/config", timeout=1)[1].get("build") == build, timeout,
                        what="build %s\n%s" % (build, self.log()[-3000:]))


@pytest.fixture(scope="module")
def orig():
    r = OtaRig(form="frozen", env={"OEVSE_CLOCK": "host"})
    r.wait_http(20)
    yield r
    r.close()


def test_bad_bundles_are_refused_and_nothing_is_staged(orig):
    r = orig
    assert r.build() == BUILD_A
    code, page = r.get("/update")
    assert code == 200 and "multipart/form-data" in page
    img = image(IMG_B)
    before = otadata(r.flash)
    bad = bytearray(B.bundle(img, "unix"))
    bad[64 + len(img) // 2] ^= 0x55  # one damaged byte in the image
    code, text = upload(r.http_port, bytes(bad))
    assert code == 400 and "SHA-256 mismatch" in text, text
    short = B.bundle(img, "unix")[:-1000]  # the header says 1000 bytes more than come
    code, text = upload(r.http_port, short)
    assert code == 400 and "size mismatch" in text, text
    longer = B.bundle(img, "unix") + b"x" * 300
    code, text = upload(r.http_port, longer)
    assert code == 400 and "size mismatch" in text, text
    # larger than the slot: refused from its Content-Length, before anything is read
    c = http.client.HTTPConnection("127.0.0.1", r.http_port, timeout=20)
    c.putrequest("POST", "/update")
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Content-Length", str(2 * F.OTA_SIZE))
    c.endheaders()
    c.send(B.bundle(img, "unix")[:4096])
    resp = c.getresponse()
    assert resp.status == 400 and "larger than the" in resp.read().decode()
    c.close()
    code, text = upload(r.http_port, B.bundle(img, "esp32"))
    assert code == 400 and "board" in text, text
    code, text = upload(r.http_port, b"not a bundle" * 20)
    assert code == 400 and "not a firmware bundle" in text, text
    code, d = r.post("/update", {"url": "https://example.invalid/firmware.bin"})
    assert code == 400 and "URL is not supported" in d, d
    # a slow upload, so the gateway's heap samples (every 2 s, after a collection) fall in it:
    # one 4 KiB block and a SHA-256 context on the ESP32-profile heap
    low0 = r.status()["heap_min"]
    c = http.client.HTTPConnection("127.0.0.1", r.http_port, timeout=30)
    body = bytes(bad)
    c.putrequest("POST", "/update")
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    t0 = time.monotonic()
    for i in range(0, len(body), 32768):
        c.send(body[i:i + 32768])
        if i == 0:  # /status says so while it is written
            wait_for(lambda: r.status()["ota_update"] == 1, 10, what="ota_update 1")
        time.sleep(max(0, 0.2 - (time.monotonic() - t0) % 0.2))
    resp = c.getresponse()
    assert resp.status == 400 and "SHA-256 mismatch" in resp.read().decode()
    c.close()
    low = r.status()["heap_min"]
    total = heap_total("frozen")
    print("\nOTA upload on the frozen image: lowest free %d B before, %d B with an upload "
          "(%.1f %% of %d)" % (low0, low, 100.0 * low / total, total))
    assert low * 100 >= total * 20  # as the soak's floor (test_soak.MIN_FREE_PCT)
    assert otadata(r.flash) == before  # nothing made bootable
    d = r.status()
    assert d["ota_update"] == 0 and "Error:" in d["ota_msg"]
    assert r.build() == BUILD_A and r.fw.poll() is None  # the old one runs on


def test_update_runs_the_new_image_then_a_bad_one_rolls_back(orig):
    r = orig
    ws = WsClient("ws://127.0.0.1:%d/ws" % r.http_port, timeout=20)
    json.loads(ws.recv())  # the full status
    code, text = upload(r.http_port, B.bundle(image(IMG_B), "unix"), raw=True)
    assert (code, text) == (200, "OK")
    seen = []
    try:
        while True:  # progress, then the socket closes with the restart
            m = json.loads(ws.recv())
            seen.append(m)
    except (ConnectionError, OSError, ValueError):
        pass
    assert any(m.get("ota") == "started" for m in seen), seen
    progress = [m["ota_progress"] for m in seen if "ota_progress" in m]
    assert progress and progress == sorted(progress) and progress[-1] == 100, progress
    assert any(m.get("ota") == "completed" for m in seen), seen
    r.wait_build(BUILD_B)
    assert "ota_1 is new: pending verify" in r.log()
    # on trial until the stable run marks it valid
    wait_for(lambda: otadata(r.flash) == ("ota_1", F.IMG_VALID), 20, what="marked valid")
    msg = wait_for(lambda: r.status()["ota_msg"], 10, what="ota_msg")
    assert msg == "updated from %s to %s" % (BUILD_A, BUILD_B), msg

    # an image that fails at boot: the boot loader goes back to the one that worked
    code, text = upload(r.http_port, B.bundle(image(IMG_BAD), "unix"))
    assert (code, text) == (200, "OK")
    wait_for(lambda: "ota_0 reset before it was marked valid: aborted, rolling back" in r.log(),
             30, what="rollback\n" + r.log()[-3000:])
    r.wait_build(BUILD_B)
    d = r.status()
    assert "rolled back" in d["ota_msg"] and "fails at every boot" in d["ota_msg"], d["ota_msg"]
    assert otadata(r.flash)[0] == "ota_1"
    code, logs = r.get("/logs")
    assert code == 200
    events = [e for i in range(logs["min"], logs["max"] + 1) for e in r.get("/logs/%d" % i)[1]]
    said = [e.get("message", "") for e in events]
    assert any(m.startswith("updated from") for m in said), said
    assert any(m.startswith("update rolled back") for m in said), said


def test_a_restart_asked_of_the_new_image_keeps_it():
    # The user restarts the gateway during the new image's first (stable) minute: that image
    # has just answered the request, so it is kept, not rolled back (ota.keep; the stable run
    # is 60 s here, as on the chip, so only the restart can have marked it valid).
    class ChipTrialRig(OtaRig):
        stable_ms = 60000  # read when the firmware starts (in the constructor)

    r = ChipTrialRig(form="frozen", env={"OEVSE_CLOCK": "host"})
    try:
        r.wait_http(20)
        assert upload(r.http_port, B.bundle(image(IMG_B), "unix"), raw=True) == (200, "OK")
        r.wait_build(BUILD_B)
        assert otadata(r.flash) == ("ota_1", F.IMG_PENDING_VERIFY)
        time.sleep(10.5)  # startup.KEEP_MS: a restart this early after a boot keeps nothing
        boots = r.log().count("boot: booting ")
        assert r.post("/restart", {"device": "gateway"})[0] == 200
        wait_for(lambda: r.log().count("boot: booting ") > boots, 20,
                 what="the restart\n" + r.log()[-2000:])
        assert "rolling back" not in r.log(), r.log()[-2000:]
        r.wait_build(BUILD_B)
        assert otadata(r.flash) == ("ota_1", F.IMG_VALID)
    finally:
        r.close()


def test_an_image_that_hangs_is_reset_by_the_watchdog_and_rolled_back(orig):
    r = orig
    r.wait_build(BUILD_B)  # where the previous test left it
    wait_for(lambda: otadata(r.flash) == ("ota_1", F.IMG_VALID), 20, what="B valid")
    assert upload(r.http_port, B.bundle(image(IMG_HANG), "unix")) == (200, "OK")
    wait_for(lambda: "watchdog: no feed for %d ms: reset" % WDT_MS in r.log(), 30,
             what="the watchdog\n" + r.log()[-3000:])
    r.wait_build(BUILD_B)
    msg = wait_for(lambda: "rolled back" in r.status()["ota_msg"] and r.status()["ota_msg"], 10,
                   what="ota_msg")
    assert "watchdog reset" in msg, msg
    assert otadata(r.flash) == ("ota_1", F.IMG_VALID)


HA_PY = os.path.join(ROOT, "build", "ha313", "bin", "python")
HA_UPLOAD = """
import asyncio, json, sys
import aiohttp
from openevsehttp.__main__ import OpenEVSE

async def main():
    async with aiohttp.ClientSession() as s:
        c = OpenEVSE(sys.argv[1], session=s)
        await c.update()
        r = await c.update_firmware(firmware_bytes=open(sys.argv[2], "rb").read())
        print(json.dumps({"response": r if isinstance(r, (dict, str)) else repr(r),
                          "ota_update": c._status.get("ota_update")}))

asyncio.run(main())
"""


def test_home_assistant_library_uploads_a_bundle(orig):
    # python-openevse-http's update_firmware(firmware_bytes=...): multipart, field "file"
    if not os.path.exists(HA_PY):
        pytest.fail("no Python 3.13 venv with python-openevse-http: run `make ha-venv`")
    r = orig
    r.wait_build(BUILD_B)  # where the previous tests left it
    wait_for(lambda: otadata(r.flash) == ("ota_1", F.IMG_VALID), 20, what="B valid")
    path = os.path.join(r.tmp, "a.bundle")
    with open(path, "wb") as f:
        f.write(B.bundle(image(IMG_A), "unix"))
    out = subprocess.run([HA_PY, "-c", HA_UPLOAD, "127.0.0.1:%d" % r.http_port, path],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["response"] == "OK", (res, out.stderr[-2000:], r.log()[-2000:])
    assert res["ota_update"] == 1, res  # the library read our "OK" as started
    r.wait_build(BUILD_A)
    wait_for(lambda: otadata(r.flash) == ("ota_0", F.IMG_VALID), 20, what="A valid")


def _phases(oplog):
    """The flash operations of a clean update by phase: upload (the slot's sectors), switch
    (set_boot's otadata writes), boot (the boot loader's NEW -> PENDING_VERIFY), valid
    (mark_app_valid_cancel_rollback)."""
    ph = {"upload": [], "switch": [], "boot": [], "valid": []}
    with open(oplog) as f:
        for line in f:
            n, who, op, label = line.split()[:4]
            n = int(n)
            if label.startswith("ota_"):
                ph["upload"].append(n)
            elif who == "bootloader":
                ph["boot"].append(n)
            elif not ph["boot"]:
                ph["switch"].append(n)
            else:
                ph["valid"].append(n)
    return ph


def test_power_cuts_during_the_update_always_leave_a_bootable_gateway():
    cuts = int(os.getenv("OTA_CUTS", "18"))
    rnd = random.Random(int(os.getenv("OTA_SEED", "13")))
    r = OtaRig(form="frozen", env={"OEVSE_CLOCK": "host"})
    try:
        r.wait_http(20)
        clean = os.path.join(r.tmp, "flash-clean")
        r.stop_firmware()
        shutil.copytree(r.flash, clean)
        data_clean = os.path.join(r.tmp, "data-clean")
        shutil.copytree(r.data, data_clean)
        bundle_b = B.bundle(image(IMG_B), "unix")
        # a clean update, every flash operation logged: where the cuts can go
        oplog = os.path.join(r.tmp, "oplog")
        r.start_firmware(oplog=oplog)
        r.wait_http(20)
        assert upload(r.http_port, bundle_b) == (200, "OK")
        r.wait_build(BUILD_B)
        wait_for(lambda: otadata(r.flash) == ("ota_1", F.IMG_VALID), 20, what="valid")
        r.stop_firmware()
        ph = _phases(oplog)
        assert len(ph["upload"]) > 100 and len(ph["switch"]) == 2 and len(ph["boot"]) == 2 \
            and len(ph["valid"]) == 2, {k: len(v) for k, v in ph.items()}
        kinds = ("upload", "switch", "boot", "first-boot", "valid", "after-valid")
        tally = {"old": 0, "new": 0}
        by_kind = {}
        t0 = time.monotonic()
        for i in range(cuts):
            kind = kinds[i % len(kinds)]
            shutil.rmtree(r.flash)
            shutil.copytree(clean, r.flash)
            shutil.rmtree(r.data)
            shutil.copytree(data_clean, r.data)
            at = rnd.choice(ph[kind]) if kind in ph else None
            mark = len(r.log())
            r.start_firmware(cut_at=at)
            r.wait_http(20)
            try:
                upload(r.http_port, bundle_b, timeout=20)
            except OSError:
                pass  # the power went during the upload
            if kind == "first-boot":  # in the new image's first boot, before it is valid
                wait_for(lambda: "booting ota_1" in r.log()[mark:], 20, what="first boot of ota_1")
                time.sleep(rnd.uniform(0, STABLE_MS / 1000 * 0.5))
                r.power_cut()
                if otadata(r.flash) == ("ota_1", F.IMG_VALID):
                    kind = "after-valid"  # a slow machine: it had marked itself valid already
            elif kind == "after-valid":  # once it has marked itself valid
                wait_for(lambda: otadata(r.flash) == ("ota_1", F.IMG_VALID), 20, what="valid")
                time.sleep(rnd.uniform(0, 0.5))
                r.power_cut()
            else:
                wait_for(lambda: r.fw.poll() is not None, 30,
                         what="the cut at flash op %d (%s)\n%s" % (at, kind, r.log()[-2000:]))
            r._log.close()
            r.fw = None
            # power back: the boot loader must bring up a gateway
            r.start_firmware()
            r.wait_http(20)
            b = r.build()
            assert b in (BUILD_A, BUILD_B), b
            got = "new" if b == BUILD_B else "old"
            tally[got] += 1
            by_kind.setdefault(kind, []).append(got)
            r.power_cut()  # off again (a cut while it runs)
            r._log.close()
            r.fw = None
        took = time.monotonic() - t0
        print("\nOTA power cuts: %d cuts, a bootable gateway after every one: %d old, %d new "
              "(%.0f s); by phase: %s" % (cuts, tally["old"], tally["new"], took,
                                         {k: "%d old/%d new" % (v.count("old"), v.count("new"))
                                          for k, v in by_kind.items()}))
        assert tally["old"] + tally["new"] == cuts
        # ESP-IDF's rules: a cut before set_boot() has written its entry keeps the old image;
        # a cut in the first boot, or while the entry is rewritten VALID (in place: erase,
        # write), rolls back; once valid, the new one stays
        for kind in ("upload", "switch", "first-boot", "valid"):
            assert set(by_kind.get(kind, [])) <= {"old"}, (kind, by_kind)
        assert set(by_kind.get("after-valid", [])) <= {"new"}, by_kind
    finally:
        r.close()
