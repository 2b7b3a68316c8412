# The PC's model of the ESP32 flash for OTA (boards/unix/esp32.py: esp32.Partition over
# ESP-IDF's otadata rules) and the bundle header (firmware/ota.py). Runs under CPython and
# MicroPython (make test-mpy). The flash is a folder under build/.
import os

import esp32 as F


def _flash(name):
    d = "build/unit-ota-" + name
    try:
        os.mkdir("build")
    except OSError:
        pass
    try:
        for f in os.listdir(d):
            os.remove(d + "/" + f)
    except OSError:
        pass
    if hasattr(os, "environ"):
        os.environ["OEVSE_FLASH"] = d
    else:
        os.putenv("OEVSE_FLASH", d)
    return d


def _image(payload):
    import hashlib
    import struct

    return b"MPIM" + struct.pack("<I", len(payload)) + hashlib.sha256(payload).digest() + payload


def _put(label, img):
    p = F.Partition(label)
    buf = bytearray(b"\xff" * 4096)
    buf[:len(img)] = img
    p.writeblocks(0, buf)
    return p


def test_nor_flash_writes_only_clear_bits_until_erased():
    _flash("nor")
    p = F.Partition("ota_1")
    p.writeblocks(0, bytearray(b"\x0f" * 4096))
    p.writeblocks(0, b"\xf0\xff", 0)  # a write without erase: old AND new
    b = bytearray(2)
    p.readblocks(0, b)
    assert bytes(b) == b"\x00\x0f"
    p.ioctl(6, 0)  # erase the block
    p.readblocks(0, b)
    assert bytes(b) == b"\xff\xff"
    try:  # the chip erases whole sectors: a short simple write is refused
        p.writeblocks(0, b"abc")
        raise AssertionError("short erase accepted")
    except OSError:
        pass


def test_set_boot_verifies_the_image_first():
    _flash("verify")
    img = bytearray(_image(b"new firmware"))
    img[-1] ^= 1  # damaged after the header was made
    p = _put("ota_1", img)
    try:
        p.set_boot()
        raise AssertionError("damaged image made bootable")
    except OSError as e:
        assert e.args[0] == F.ESP_ERR_OTA_VALIDATE_FAILED
    assert F.active_otadata() == -1 and F.boot_label() == "ota_0"


def test_sequence_alternates_sectors_and_never_rewrites_the_active_one():
    _flash("seq")
    run = F.Partition(F.Partition.RUNNING)
    assert run.info()[4] == "ota_0" and run.get_next_update().info()[4] == "ota_1"
    _put("ota_1", _image(b"one"))
    _put("ota_0", _image(b"two"))
    want = ((F.Partition("ota_1"), 2, 0), (F.Partition("ota_0"), 3, 1), (F.Partition("ota_1"), 4, 0))
    for p, seq, sector in want:
        before = F.read_otadata()
        a = F.active_otadata(before)
        p.set_boot()
        od = F.read_otadata()
        assert F.active_otadata(od) == sector and od[sector][0] == seq and od[sector][1] == F.IMG_NEW
        if a >= 0:
            assert od[a] == before[a]  # the entry that was active is untouched
        assert F.boot_label() == p.info()[4]


def test_pending_image_is_kept_once_marked_valid_and_dropped_when_aborted():
    _flash("rollback")
    _put("ota_1", _image(b"new")).set_boot()
    a = F.active_otadata()
    seq = F.read_otadata()[a][0]
    F.write_otadata(a, seq, F.IMG_PENDING_VERIFY)  # the boot loader's first start of it
    F.Partition.mark_app_valid_cancel_rollback()
    assert F.read_otadata()[a][1] == F.IMG_VALID and F.boot_label() == "ota_1"
    F.Partition.mark_app_valid_cancel_rollback()  # again: nothing changes
    assert F.read_otadata()[a][1] == F.IMG_VALID
    # the next update, never confirmed: ABORTED entries do not count, the valid one boots
    _put("ota_0", _image(b"newer")).set_boot()
    b = F.active_otadata()
    assert b != a and F.boot_label() == "ota_0"
    F.write_otadata(b, F.read_otadata()[b][0], F.IMG_ABORTED)
    assert F.active_otadata() == a and F.boot_label() == "ota_1"


def test_erased_sector_after_a_cut_leaves_the_other_entry():
    _flash("cut")
    _put("ota_1", _image(b"new")).set_boot()
    a = F.active_otadata()
    _put("ota_0", _image(b"newer")).set_boot()
    b = F.active_otadata()
    F.flash_erase("otadata", b * F.SECTOR, F.SECTOR)  # erase done, the write never came
    assert F.active_otadata() == a and F.boot_label() == "ota_1"


def test_bundle_header_parse():
    import struct

    import ota

    img = _image(b"x")
    import hashlib

    digest = hashlib.sha256(img).digest()
    h = b"OEVSEOTA" + bytes([1, 0, 0, 0]) + struct.pack("<I", len(img)) + digest + b"unix" + bytes(12)
    assert ota.parse_header(h) == (len(img), digest, "unix")
    for bad in (b"OEVSEOTB" + h[8:], h[:8] + b"\x02" + h[9:], h[:40]):
        try:
            ota.parse_header(bad)
            raise AssertionError("accepted %r" % bad[:12])
        except ota.Bad:
            pass
