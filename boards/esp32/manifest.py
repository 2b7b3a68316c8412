# Optional frozen-firmware manifest for the ESP32 (see boards/esp32/README.md). Freezing puts
# the bytecode of the gateway and of microdot in flash: it runs from there and costs no Python
# heap, which a stock ESP32 (56 KB heap at boot, about 110 KB after one growth) needs for the
# whole firmware. Needs ESP-IDF and a MicroPython checkout; not built by this repository.
#
#   make mpylib                                  # microdot into build/mpylib (pinned)
#   make -C <micropython>/ports/esp32 BOARD=ESP32_GENERIC \
#        FROZEN_MANIFEST=<this repo>/boards/esp32/manifest.py
#
# Relative paths below are relative to this file (the manifest runs with its cwd here).

# The port's own frozen modules: _boot, asyncio, umqtt, requests, mip, ...
include("$(PORT_DIR)/boards/manifest.py")

FW = "../../firmware"

# The board module (import board).
module("board.py", base_path=".", opt=2)

# The gateway: every top-level module except main.py, which stays a file in the filesystem
# (the boot sequence runs /main.py; a frozen main.py would win over it and could not be
# replaced without reflashing), and the packages. -O2 strips assert: the firmware has none
# (tools/build_mpy.py checks).
import os  # noqa: E402  (manifests run with the cwd at this file's folder)

for _name in sorted(os.listdir(FW)):
    if _name.endswith(".py") and _name != "main.py":
        module(_name, base_path=FW, opt=2)
for _pkg in ("rapi", "net", "divert", "web"):
    package(_pkg, base_path=FW, opt=2)

# microdot: only the modules the firmware imports (tools/build_mpy.py computes the same set).
package("microdot", files=("__init__.py", "microdot.py", "websocket.py", "helpers.py"),
        base_path="../../build/mpylib", opt=2)
