# The ESP32-profile runtime with the gateway frozen in (tools/build_runtime.py "frozen"):
# what boards/esp32/manifest.py freezes into an ESP32 image, with the PC's board module.
include("$(PORT_DIR)/variants/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
include("../../boards/manifest_gateway.py", board="unix")
# the radio model, as in manifest.py: the chip's radio costs no Python heap
module("wlan.py", base_path="../../boards/unix", opt=2)
# the flash's partitions (esp32.Partition, C on the chip): the model of boards/unix/esp32.py
module("esp32.py", base_path="../../boards/unix", opt=2)
