# The plain ESP32-profile runtime (tools/build_runtime.py "plain"): what a stock ESP32_GENERIC
# image freezes that the gateway uses: asyncio (ports/esp32/boards/manifest.py also freezes
# umqtt, requests, ntptime, webrepl, which the gateway never imports).
include("$(PORT_DIR)/variants/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
# The radio: on the chip `network` is the driver's C code in the firmware, using no Python heap;
# the PC's model of it (boards/unix/wlan.py) is frozen in for the same reason.
module("wlan.py", base_path="../../boards/unix", opt=2)
# the flash's partitions (esp32.Partition, C on the chip): the model of boards/unix/esp32.py
module("esp32.py", base_path="../../boards/unix", opt=2)
