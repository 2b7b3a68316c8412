# The ESP32's flash partitions and OTA data for the PC: esp32.Partition as MicroPython v1.28.0's
# ESP32 port implements it (ports/esp32/esp32_partition.c) over ESP-IDF's esp_partition and
# esp_ota_ops, so the firmware's update code meets the same API here as on the chip (as
# wlan.py models network.WLAN). Runs under MicroPython (the firmware) and CPython (the boot
# loader model, tools/bootloader.py, which applies the boot rules to the same files).
#
# The flash is a folder (OEVSE_FLASH): one file per partition of v1.28.0's
# ports/esp32/partitions-4MiB-ota.csv (the ESP32_GENERIC "OTA" variant): otadata (2 sectors),
# ota_0 and ota_1 (0x180000 bytes each). The "vfs" partition main.c adds for the rest of the
# flash is the PC's data folder. What is modelled, with the code it comes from:
#
#  * NOR flash: erase sets a 4 KiB sector to 0xFF; a write can only clear bits (the result is
#    old AND new). writeblocks(n, buf) erases the blocks it covers first; writeblocks(n, buf,
#    off) writes only (esp32_partition_writeblocks); ioctl(6, n) erases one block.
#  * otadata: two sectors, each starting with an esp_ota_select_entry_t {uint32 ota_seq,
#    uint8 seq_label[20], uint32 ota_state, uint32 crc}; crc = esp_rom_crc32_le(UINT32_MAX,
#    &ota_seq, 4). An entry is valid when ota_seq != 0xFFFFFFFF and the crc matches, and (app
#    rollback on: CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y in v1.28.0 boards/sdkconfig.base) its
#    state is neither INVALID nor ABORTED; the valid entry with the higher seq is active, and
#    it boots slot (seq - 1) % 2 (bootloader_common.c bootloader_common_get_active_otadata).
#  * set_boot() = esp_ota_set_boot_partition: the image is verified first (esp_image_verify:
#    ESP_ERR_OTA_VALIDATE_FAILED), then the next seq that selects this slot is written, state
#    NEW, into the sector that is NOT active (erase, then write): the active one stays intact
#    until the new one is complete, so a power cut leaves one of the two (esp_ota_ops.c
#    esp_rewrite_ota_data).
#  * get_next_update() = esp_ota_get_next_update_partition(running): the other OTA slot.
#  * mark_app_valid_cancel_rollback() = esp_ota_mark_app_valid_cancel_rollback: the active
#    entry, when PENDING_VERIFY, is rewritten VALID (ESP-IDF rewrites the active sector in
#    place: erase, then write; a cut between the two leaves it erased, and the other entry,
#    the previous image, is then the one that boots).
#  * Partition.RUNNING is the slot the boot loader started (OTA_RUNNING, set by
#    tools/bootloader.py; on the chip the MMU mapping says so).
#
# An app image here is b"MPIM" + u32 length + SHA-256 of the program + the program (a frozen
# MicroPython runtime): the part of the ESP-IDF app image format (esp_image_format.h: magic,
# segments, appended SHA-256) that the verification uses.
#
# Power cuts for tests: with FLASH_CUT_AT=n, the n-th flash operation (erase or write, counted
# across processes in <flash>/.ops) does not happen: the whole process group is killed
# instead (SIGKILL, as power going away). FLASH_OPLOG=path logs each operation.
import os
import struct

try:
    from hashlib import sha256
except ImportError:
    from uhashlib import sha256
try:
    from binascii import crc32
except ImportError:
    from zlib import crc32

SECTOR = 4096
OTA_SIZE = 0x180000
# label, type, subtype, address, size: partitions-4MiB-ota.csv (type 0 app, 1 data; subtype
# 0x10 + n = ota_n, data 0 = ota)
TABLE = (
    ("otadata", 1, 0x00, 0xD000, 0x2000),
    ("ota_0", 0, 0x10, 0x10000, OTA_SIZE),
    ("ota_1", 0, 0x11, 0x190000, OTA_SIZE),
)
# esp_ota_img_states_t (esp_flash_partitions.h)
IMG_NEW = 0
IMG_PENDING_VERIFY = 1
IMG_VALID = 2
IMG_INVALID = 3
IMG_ABORTED = 4
IMG_UNDEFINED = 0xFFFFFFFF
ESP_ERR_OTA_VALIDATE_FAILED = 0x1503
ESP_ERR_NOT_FOUND = 0x105
MAGIC = b"MPIM"
HEAD = 40  # magic, length, SHA-256


def flash_dir():
    return os.getenv("OEVSE_FLASH") or "build/flash"


def _path(label):
    return flash_dir() + "/" + label + ".bin"


def _cut(what):
    """Count one flash operation; the FLASH_CUT_AT-th is a power cut instead."""
    log = os.getenv("FLASH_OPLOG")
    at = os.getenv("FLASH_CUT_AT")
    if not at and not log:
        return
    p = flash_dir() + "/.ops"
    n = 0
    try:
        with open(p) as f:
            n = int(f.read() or "0")
    except (OSError, ValueError):
        pass
    n += 1
    if at and n >= int(at):
        try:
            os.killpg(0, 9)  # CPython (the boot loader model)
        except AttributeError:
            os.system("kill -9 0")  # MicroPython: the shell's group is ours
        while True:
            pass
    with open(p, "w") as f:
        f.write(str(n))
    if log:
        with open(log, "a") as f:
            f.write("%d %s %s\n" % (n, os.getenv("OTA_RUNNING") or "bootloader", what))


def _size(label):
    for t in TABLE:
        if t[0] == label:
            return t[4]
    raise OSError(ESP_ERR_NOT_FOUND)


def _open(label):
    """The partition's file, created erased (all 0xFF) when missing: a new chip's flash."""
    p = _path(label)
    try:
        return open(p, "r+b")
    except OSError:
        pass
    try:
        os.mkdir(flash_dir())
    except OSError:
        pass
    with open(p, "wb") as f:
        blank = b"\xff" * SECTOR
        for _ in range(_size(label) // SECTOR):
            f.write(blank)
    return open(p, "r+b")


def flash_read(label, off, n):
    with _open(label) as f:
        f.seek(off)
        return f.read(n)


def flash_erase(label, off, n):
    """esp_partition_erase_range: whole sectors to 0xFF, one operation per sector."""
    if off % SECTOR or n % SECTOR or off + n > _size(label):
        raise OSError(22)
    blank = b"\xff" * SECTOR
    with _open(label) as f:
        for s in range(off, off + n, SECTOR):
            _cut("erase %s %d" % (label, s))
            f.seek(s)
            f.write(blank)


def flash_write(label, off, data, erased=False):
    """esp_partition_write: NOR bits only go from 1 to 0 (old AND new). erased: the caller
    has just erased the range (writeblocks), so the old bits are all 1 and need no reading
    (the firmware's heap on the PC should not carry the model's buffers)."""
    n = len(data)
    if off + n > _size(label):
        raise OSError(22)
    _cut("write %s %d %d" % (label, off, n))
    with _open(label) as f:
        out = data
        if not erased:
            f.seek(off)
            old = f.read(n)
            if old != b"\xff" * n:
                out = bytearray(data)
                for i in range(n):
                    out[i] &= old[i]
        f.seek(off)
        f.write(out)


# -- otadata (bootloader_common.c, esp_ota_ops.c) ------------------------------------------
def entry_crc(seq):
    return crc32(struct.pack("<I", seq), 0xFFFFFFFF) & 0xFFFFFFFF


def read_otadata():
    """[(seq, state, valid) for sector 0, sector 1]."""
    out = []
    for i in (0, 1):
        b = flash_read("otadata", i * SECTOR, 32)
        seq, state, crc = struct.unpack("<I", b[0:4])[0], struct.unpack("<I", b[24:28])[0], \
            struct.unpack("<I", b[28:32])[0]
        ok = seq != 0xFFFFFFFF and crc == entry_crc(seq) and state not in (IMG_INVALID, IMG_ABORTED)
        out.append((seq, state, ok))
    return out


def active_otadata(od=None):
    """The index (0/1) of the active otadata entry, -1 when neither is valid."""
    od = od or read_otadata()
    if od[0][2] and od[1][2]:
        return 0 if od[0][0] > od[1][0] else 1
    if od[0][2]:
        return 0
    if od[1][2]:
        return 1
    return -1


def write_otadata(i, seq, state):
    """One sector: erase, then the 32-byte entry (esp_ota_ops.c rewrite_ota_seq)."""
    e = struct.pack("<I", seq) + b"\xff" * 20 + struct.pack("<II", state, entry_crc(seq))
    flash_erase("otadata", i * SECTOR, SECTOR)
    flash_write("otadata", i * SECTOR, e)


def slot_of(seq):
    return "ota_%d" % ((seq - 1) % 2)


def boot_label():
    """esp_ota_get_boot_partition: the slot the active entry selects; ota_0 when none is
    valid (no factory app in this table: the boot loader starts the first OTA slot)."""
    od = read_otadata()
    a = active_otadata(od)
    return slot_of(od[a][0]) if a >= 0 else "ota_0"


# -- app images --------------------------------------------------------------------------
def image_head(label):
    """(length, sha) of the image in a slot, or None when it has no valid header."""
    b = flash_read(label, 0, HEAD)
    if b[:4] != MAGIC:
        return None
    n = struct.unpack("<I", b[4:8])[0]
    if n > OTA_SIZE - HEAD:
        return None
    return n, b[8:40]


def image_ok(label):
    """esp_image_verify: the header, and the program's SHA-256 read back from flash."""
    h = image_head(label)
    if h is None:
        return False
    n, digest = h
    s = sha256()
    with _open(label) as f:
        f.seek(HEAD)
        while n > 0:
            b = f.read(min(n, SECTOR))
            if not b:
                return False
            s.update(b)
            n -= len(b)
    return s.digest() == digest


# -- esp32.Partition ----------------------------------------------------------------------
class Partition:
    """esp32.Partition (docs/library/esp32.rst, ports/esp32/esp32_partition.c)."""

    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=SECTOR):
        if id == Partition.BOOT:
            label = boot_label()
        elif id == Partition.RUNNING:
            label = os.getenv("OTA_RUNNING") or "ota_0"
        elif isinstance(id, str):
            _size(id)  # ENOENT-like for an unknown label
            label = id
        else:
            raise ValueError()
        self.label = label
        self.block_size = block_size
        for t in TABLE:
            if t[0] == label:
                self._t = t

    def __repr__(self):
        t = self._t
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % (
            t[1], t[2], t[3], t[4], t[0])

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=SECTOR):
        return [Partition(t[0], block_size) for t in TABLE
                if t[1] == type and (subtype == 0xFF or t[2] == subtype)
                and (label is None or t[0] == label)]

    def info(self):
        t = self._t
        return (t[1], t[2], t[3], t[4], t[0], False)

    def readblocks(self, block, buf, offset=0):
        b = flash_read(self.label, block * self.block_size + offset, len(buf))
        buf[:len(b)] = b

    def writeblocks(self, block, buf, offset=None):
        off = block * self.block_size
        if offset is None:  # a simple write: erase what it covers first, which must be
            # whole sectors (esp_partition_erase_range; block sizes below 4096 go through a
            # cache on the chip, not modelled: the firmware uses 4096)
            flash_erase(self.label, off, len(buf))
            flash_write(self.label, off, buf, True)
        else:
            flash_write(self.label, off + offset, buf)

    def ioctl(self, cmd, arg):
        if cmd in (1, 2, 3):
            return 0
        if cmd == 4:
            return self._t[4] // self.block_size
        if cmd == 5:
            return self.block_size
        if cmd == 6:
            if self.block_size != SECTOR:
                return -22
            flash_erase(self.label, arg * SECTOR, SECTOR)
            return 0
        return None

    def set_boot(self):
        """esp_ota_set_boot_partition: verify the image, then a new otadata entry."""
        if not image_ok(self.label):
            raise OSError(ESP_ERR_OTA_VALIDATE_FAILED)
        slot = self._t[2] - 0x10
        od = read_otadata()
        a = active_otadata(od)
        if a >= 0:
            seq = od[a][0]
            i = 0
            while seq > (i + 1) * 2:
                i += 1
            new = i * 2 + slot + 1
            if new <= seq:  # esp_rewrite_ota_data: the next seq that lands on this slot
                new += 2
            nxt = 1 - a
        else:
            new, nxt = slot + 1, 0
        write_otadata(nxt, new, IMG_NEW)

    def get_next_update(self):
        return Partition("ota_1" if self.label == "ota_0" else "ota_0")

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        od = read_otadata()
        a = active_otadata(od)
        if a >= 0 and od[a][1] == IMG_PENDING_VERIFY:
            write_otadata(a, od[a][0], IMG_VALID)
