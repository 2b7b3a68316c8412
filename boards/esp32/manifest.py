# Optional frozen-firmware manifest for the ESP32 (see boards/esp32/README.md). Freezing puts
# the gateway's bytecode in flash: it runs from there and costs no Python heap. Needs ESP-IDF
# and a MicroPython checkout; not built by this repository:
#
#   make -C <micropython>/ports/esp32 BOARD=ESP32_GENERIC \
#        FROZEN_MANIFEST=<this repo>/boards/esp32/manifest.py

# The port's own frozen modules: _boot, asyncio, umqtt, requests, mip, ...
include("$(PORT_DIR)/boards/manifest.py")
include("../manifest_gateway.py", board="esp32")
