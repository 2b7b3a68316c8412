# Over-the-air update of the firmware image (POST /update), the ESP32 way: the new image is
# written into the OTA slot that is not running (esp32.Partition, MicroPython v1.28.0
# ports/esp32/esp32_partition.c), checked, and made the boot slot with set_boot(); then the
# board resets. The boot loader (ESP-IDF, app rollback on: v1.28.0 boards/sdkconfig.base
# CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y) starts the new image as PENDING_VERIFY; if the board
# resets before the image has marked itself valid (mark_app_valid_cancel_rollback, done by
# startup.py once the gateway has run STABLE_MS), the boot loader goes back to the previous
# image. A power cut at any point leaves either the old image or the new one bootable: the
# slot being written is never the one that boots until set_boot() has verified it, and the
# boot choice (otadata) is two flash sectors of which one is always intact.
#
# The upload is the C++ gateway's (openevse-gateway.md 1.2 /update): a multipart/form-data
# POST with one file part (field name not checked), answered with text "OK" and a restart,
# or "Error: <reason>". Also accepted: the bundle as the whole body
# (application/octet-stream). The file is a bundle (tools/bundle.py, `make bundle`):
#   64-byte header: b"OEVSEOTA", u8 format (1), 3 bytes 0, u32 image size (little endian),
#   32 bytes SHA-256 of the image, 16 bytes board name (board.NAME, 0-padded)
#   then the image: what goes into the slot (on the ESP32 the app .bin, micropython.bin).
# Constant memory: one 4 KiB block buffer, every read with a timeout. Cold: imported for an
# update or a boot-time check, dropped after.
import json
import os

import board
from compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms

try:
    from hashlib import sha256
except ImportError:
    from uhashlib import sha256

HEADER = 64
MAGIC = b"OEVSEOTA"
BLOCK = 4096
READ_MS = 10000  # one read of the upload; a stalled client ends the update
MAX_PREAMBLE = 1024  # multipart boundary line + part headers
MAX_TRAILER = 256  # the closing boundary
TEXT = {"Content-Type": "text/plain"}


def _record_path():
    return board.data_dir + "/ota.json"


class Bad(Exception):
    """The upload is not an acceptable bundle: 400 with the reason."""


def parse_header(h):
    """(image size, SHA-256 digest, board name) from a bundle's 64-byte header; Bad if it is
    not one."""
    if len(h) < HEADER or h[:8] != MAGIC:
        raise Bad("not a firmware bundle (make bundle builds one)")
    if h[8] != 1:
        raise Bad("bundle format %d not supported" % h[8])
    size = h[12] | h[13] << 8 | h[14] << 16 | h[15] << 24
    name = bytes(h[48:64]).rstrip(b"\x00").decode()
    return size, bytes(h[16:48]), name


class _Body:
    """The request body read in pieces, each read with a timeout: what the head read already
    holds (req.body), then the socket, never more than Content-Length."""

    def __init__(self, req):
        self.req = req
        self.pre = req.body
        self.left = req.length - len(req.body)

    async def read(self, n):
        if self.pre:
            b = self.pre[:n]
            self.pre = self.pre[n:]
            return b
        if self.left <= 0:
            return b""
        b = await wait_for_ms(self.req.reader.read(min(n, self.left)), READ_MS)
        if not b:
            raise Bad("upload ended early")
        self.left -= len(b)
        return b

    async def readinto(self, mv, n):
        """Exactly n bytes into mv[0:n] unless the body ends first; returns the count."""
        got = 0
        while got < n:
            if self.pre:
                k = min(n - got, len(self.pre))
                mv[got:got + k] = self.pre[:k]
                self.pre = self.pre[k:]
            elif self.left <= 0:
                break
            else:
                r = self.req.reader
                want = min(n - got, self.left)
                if hasattr(r, "readinto"):
                    k = await wait_for_ms(r.readinto(mv[got:got + want]), READ_MS)
                else:  # CPython's StreamReader (unit tests)
                    b = await wait_for_ms(r.read(want), READ_MS)
                    k = len(b)
                    mv[got:got + k] = b
                if not k:
                    raise Bad("upload ended early")
                self.left -= k
            got += k
        return got

    def remaining(self):
        return len(self.pre) + self.left


def _boundary(ctype):
    i = ctype.find("boundary=")
    if i < 0:
        raise Bad("multipart upload without a boundary")
    b = ctype[i + 9:].split(";", 1)[0].strip().strip('"')
    if not b or len(b) > 70:
        raise Bad("bad multipart boundary")
    return b.encode()


async def _skip_part_head(body, boundary):
    """Read the multipart preamble up to the file part's content; returns the bytes of the
    content already read. The first part is the file (the C++ gateway takes the first)."""
    acc = b""
    while True:
        i = acc.find(b"\r\n\r\n")
        if i >= 0:
            break
        if len(acc) > MAX_PREAMBLE:
            raise Bad("multipart part headers too long")
        b = await body.read(256)
        if not b:
            raise Bad("upload ended early")
        acc += b
    if not acc.startswith(b"--" + boundary):
        raise Bad("multipart body does not start with its boundary")
    return acc[i + 4:]


def _publish(gw, d):
    try:
        gw.bus.publish(d)
    except Exception:
        pass


def _show(gw, d):
    """Into /status and out to WebSocket clients. /status shows gw._inputs as they are
    (gateway.py _own_status): nothing is kept until an update happens (ota_update is 0 by
    default, status.NEUTRAL)."""
    gw._inputs.update(d)
    _publish(gw, d)


async def receive(gw, req):
    """Handle POST /update: returns the response (text, status, headers)."""
    if gw._inputs.get("ota_update"):
        return "Error: an update is already running", 409, TEXT
    _show(gw, {"ota_update": 1})
    _publish(gw, {"ota": "started"})
    try:
        r = await _receive(gw, req)
    except Bad as e:
        r = "Error: " + str(e), 400, TEXT
    except OSError as e:
        r = "Error: flash: %r" % e, 500, TEXT
    except Exception as e:  # a timeout, a reset connection: nothing was switched
        r = "Error: upload failed: %r" % e, 400, TEXT
    if r[1] == 200:
        _show(gw, {"ota_update": 0, "ota_msg": "updated: restarting into the new firmware"})
        _publish(gw, {"ota": "completed"})
    else:
        _show(gw, {"ota_update": 0, "ota_msg": r[0]})
        _publish(gw, {"ota": "failed", "ota_error": r[1]})
        gw.log_event("warning", "update failed: " + r[0][7:60])
    return r


async def _receive(gw, req):
    P = board.ota()
    running = P(P.RUNNING)
    try:
        slot = running.get_next_update()
    except OSError:
        raise OSError("no OTA slot: this image was built without the OTA partition table")
    room = slot.info()[3]
    if req.length > room + HEADER + MAX_PREAMBLE + MAX_TRAILER:
        raise Bad("upload of %d bytes is larger than the %d-byte slot" % (req.length, room))
    body = _Body(req)
    ctype = req.header("content-type").lower()
    if ctype.startswith("application/json"):
        # the C++ gateway's {"url": ...}: it downloads the image itself; we take uploads only
        raise Bad("update from a URL is not supported: upload the bundle file")
    boundary = None
    if ctype.startswith("multipart/form-data"):
        boundary = _boundary(req.header("content-type"))
        first = await _skip_part_head(body, boundary)
        body.pre = first + body.pre
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    if await body.readinto(mv, HEADER) < HEADER:
        raise Bad("file too short for a bundle")
    size, digest, name = parse_header(buf)
    if name != board.NAME:
        raise Bad("bundle is for board %r, this is %r" % (name, board.NAME))
    if size == 0 or size > room:
        raise Bad("image size %d does not fit the %d-byte slot" % (size, room))
    if body.remaining() < size:  # before a single block is erased
        raise Bad("size mismatch: the upload has %d bytes of image, the header says %d"
                  % (body.remaining(), size))
    h = sha256()
    done = 0
    block = 0
    step = max(size // 10, 1)
    mark = step
    t0 = ticks_ms()
    while done < size:
        k = await body.readinto(mv, min(BLOCK, size - done))
        if k < min(BLOCK, size - done):
            raise Bad("size mismatch: the upload ended %d bytes into a %d-byte image" % (done + k, size))
        h.update(mv[:k])
        if k < BLOCK:  # the chip erases whole 4 KiB sectors: pad the last one
            for i in range(k, BLOCK):
                buf[i] = 0xFF
        slot.writeblocks(block, buf)
        block += 1
        done += k
        if done >= mark:
            mark += step
            _publish(gw, {"ota_progress": done * 100 // size})
        if ticks_diff(ticks_ms(), t0) > 500:
            # each flash write blocks (an erase is tens of ms on the chip); reads already
            # yield to the loop, this keeps it so when the data is all there at once
            t0 = ticks_ms()
            await sleep_ms(0)
    rest = body.remaining()
    if boundary is not None:
        tail = await body.read(MAX_TRAILER) if rest <= MAX_TRAILER else b""
        if rest > MAX_TRAILER or not tail.startswith(b"\r\n--" + boundary):
            raise Bad("size mismatch: the file is longer than its header says (%d bytes)" % size)
    elif rest:
        raise Bad("size mismatch: %d bytes after the %d-byte image" % (rest, size))
    if h.digest() != digest:
        slot.ioctl(6, 0)  # the first sector: no half-valid image left in the slot
        raise Bad("SHA-256 mismatch: the image is damaged")
    buf = mv = None
    try:
        slot.set_boot()  # verifies the image as written (esp_image_verify), then otadata
    except OSError as e:
        raise OSError("the written image does not verify (%r)" % e)
    # after set_boot: a cut before this file exists only loses the message at the next boot
    _write_record({"to": slot.info()[4], "from": running.info()[4], "old": gw.build})
    gw.log_event("notification", "update staged in " + slot.info()[4])
    gw.web.later(gw.restart, "gateway")
    return "OK", 200, TEXT


def _write_record(d):
    p = _record_path()
    with open(p + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(p + ".tmp", p)


def _read_record():
    try:
        with open(_record_path()) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None


def _drop_record():
    try:
        os.remove(_record_path())
    except OSError:
        pass


def running_label():
    P = board.ota()
    return P(P.RUNNING).info()[4]


def boot(gw, why=""):
    """At boot: after an update, say whether the new image came up or the boot loader went
    back to the old one (why: the failed boot's error, startup.py's boot memory)."""
    rec = _read_record()
    if rec is None:
        return
    if not getattr(board, "ota_boots", True):  # the PC without its boot loader (make run)
        _show(gw, {"ota_msg": "the update was staged in %s; this run does not boot images "
                              "(tools/bootloader.py does)" % rec.get("to")})
        _drop_record()
        return
    here = running_label()
    if here != rec.get("to"):
        msg = "update rolled back: the new firmware did not come up" + (
            " (" + why[:80] + ")" if why else "") + "; running " + gw.build + " again"
        _show(gw, {"ota_msg": msg})
        gw.log_event("warning", msg[:100])
        _drop_record()
    else:
        _show(gw, {"ota_msg": "new firmware on trial: confirmed after a stable run"})


def keep(gw):
    """A restart asked of a gateway that has run a while (the API, MQTT, a factory reset):
    the image served that request, so it is kept (confirm) instead of being rolled back at
    the next boot because its stable minute was cut short. Not when the restart is into an
    update just staged: the running image is no longer the one that boots."""
    rec = _read_record()
    if rec is not None and rec.get("to") != running_label():
        return
    confirm(gw)


def confirm(gw):
    """After a stable run: mark the running image valid (the boot loader keeps it from now
    on); a no-op when it is valid already. Says so when this ends an update."""
    P = board.ota()
    try:
        P.mark_app_valid_cancel_rollback()
    except OSError as e:  # -261: an image without app rollback (nothing to confirm)
        print("ota: mark valid:", repr(e))
    rec = _read_record()
    if rec is not None and rec.get("to") == running_label():
        msg = "updated from %s to %s" % (rec.get("old", "?"), gw.build)
        _show(gw, {"ota_msg": msg})
        gw.log_event("notification", msg[:100])
        _drop_record()
