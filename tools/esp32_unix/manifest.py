# What a stock ESP32_GENERIC image freezes that the gateway uses: asyncio (ports/esp32/boards/
# manifest.py also freezes umqtt, requests, ntptime, webrepl, which the gateway never imports).
include("$(PORT_DIR)/variants/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
