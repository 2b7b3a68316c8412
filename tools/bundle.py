"""Build the firmware bundle a user uploads to POST /update (`make bundle`).

A bundle is a 64-byte header and the image (firmware/ota.py reads it):
  b"OEVSEOTA", format 1, 3 zero bytes, u32 image size (little endian), SHA-256 of the image,
  board name (16 bytes, 0-padded: "esp32" or "unix"), then the image.

The image is what the gateway writes into the free OTA slot:
  esp32  the app image of the ESP-IDF build, build/esp32-firmware/micropython.bin (`make
         firmware` builds it; ESP-IDF needed, not built here). Not firmware.bin: that one
         holds the boot loader and partition table too, for esptool at 0x1000.
  unix   the PC's stand-in (boards/unix/esp32.py): b"MPIM", u32 length, SHA-256, then the
         frozen ESP32-profile runtime build/mp32-frozen/micropython.

Usage: python tools/bundle.py [--board unix|esp32] [--image PATH] [--program PATH] [-o OUT]
With no arguments: the PC bundle, and the ESP32 one when its app image exists."""
import argparse
import hashlib
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = 64


def pc_image(program):
    """The PC's app image around a runtime binary (boards/unix/esp32.py image_head)."""
    with open(program, "rb") as f:
        p = f.read()
    return b"MPIM" + struct.pack("<I", len(p)) + hashlib.sha256(p).digest() + p


def header(image, board):
    name = board.encode()
    if len(name) > 16:
        raise ValueError("board name too long")
    return (b"OEVSEOTA" + bytes([1, 0, 0, 0]) + struct.pack("<I", len(image))
            + hashlib.sha256(image).digest() + name + b"\0" * (16 - len(name)))


def bundle(image, board):
    return header(image, board) + image


def build_name():
    with open(os.path.join(ROOT, "firmware", "startup.py")) as f:
        m = re.search(r'^BUILD = "([^"]+)"', f.read(), re.M)
    return m.group(1) if m else "unknown"


def write(out, data):
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--board", choices=("unix", "esp32"))
    ap.add_argument("--image", help="the app image as it goes into the slot")
    ap.add_argument("--program", help="unix: a runtime binary, wrapped into the PC image")
    ap.add_argument("-o", "--out")
    a = ap.parse_args(argv)
    out_dir = os.path.join(ROOT, "build", "bundle")
    if a.board:
        if a.image:
            with open(a.image, "rb") as f:
                image = f.read()
        elif a.board == "unix":
            image = pc_image(a.program or os.path.join(ROOT, "build", "mp32-frozen", "micropython"))
        else:
            sys.exit("bundle: --board esp32 needs --image build/esp32-firmware/micropython.bin")
        out = a.out or os.path.join(out_dir, "openevse-%s-%s.bundle" % (build_name(), a.board))
        write(out, bundle(image, a.board))
        print("bundle: %s (%d-byte image, sha256 %s)" % (
            os.path.relpath(out, ROOT), len(image), hashlib.sha256(image).hexdigest()))
        return
    main(["--board", "unix"])
    app = os.path.join(ROOT, "build", "esp32-firmware", "micropython.bin")
    if os.path.exists(app):
        main(["--board", "esp32", "--image", app])
    else:
        print("bundle: no ESP32 app image (%s): `make firmware MICROPY_DIR=...` builds it "
              "with ESP-IDF; only the PC bundle was made" % os.path.relpath(app, ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
