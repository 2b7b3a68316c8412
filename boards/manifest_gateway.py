# The gateway's own modules, frozen into a firmware image: included by boards/esp32/manifest.py
# (the ESP32 image) and tools/esp32_unix/manifest_frozen.py (the ESP32-profile runtime for the
# PC, where the frozen form is measured). options.board names the board folder ("esp32",
# "unix"). Paths are relative to this file (manifests run with their own folder as cwd).
import os  # noqa: E402

options.defaults(board="esp32")

# The board module (import board). The PC's radio model (boards/unix/wlan.py) stands for the
# chip's radio, which is the driver's C code: the PC runtimes freeze it on their own
# (tools/esp32_unix/manifest*.py), it is not part of the gateway.
module("board.py", base_path=options.board, opt=2)

# Every top-level module except main.py, which stays a file in the filesystem (the boot
# sequence runs /main.py; a frozen main.py would win over it and could not be replaced
# without reflashing), and the packages. -O2 strips assert: the firmware has none
# (tools/build_mpy.py checks).
FW = "../firmware"
for _name in sorted(os.listdir(FW)):
    if _name.endswith(".py") and _name != "main.py":
        module(_name, base_path=FW, opt=2)
for _pkg in ("rapi", "net", "divert", "web"):
    package(_pkg, base_path=FW, opt=2)
