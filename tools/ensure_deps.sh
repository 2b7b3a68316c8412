#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing. Fails loudly.
#   mosquitto, mosquitto-clients: the real MQTT broker of the MQTT tests
#   chromium: the real browser of the web UI tests
#   gcc-multilib: builds the 32-bit ESP32-profile MicroPython (tools/build_runtime.py)
set -euo pipefail
need=()
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v chromium >/dev/null || need+=(chromium)
m32_ok() { echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; }
m32_ok || need+=(gcc-multilib)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
command -v mosquitto >/dev/null && command -v chromium >/dev/null && m32_ok
