"""Memory on the ESP32 profile (tests/system/soak.py): the gateway with every service on
(2 WebSockets, /status polling, MQTT with HA discovery and a 1 Hz feed, Emoncms, Eco, EV
cycles, a WiFi scan, a /config save) must never raise MemoryError, keep at least 20 % of the
heap free at its lowest point, and show no downward trend from cycle to cycle.

Here the frozen image on a stock-sized heap (ESP32-WROOM, no PSRAM: 56 KB growing once to
~110 KB), the documented default (docs/deploy.md); test_soak_psram.py the .mpy tree on a board
with PSRAM. The checks: soak.check."""
from harness import heap_total
from soak import Soak
from soak import check as _check


def test_frozen_image_all_services_on_esp32_wroom_heap():
    r = Soak(form="frozen", services="all", cycles=3, cycle_s=25).run()
    _check(r, heap_total("frozen"))
