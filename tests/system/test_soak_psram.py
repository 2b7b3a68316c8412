"""The memory soak of the .mpy tree that mpremote copies onto stock firmware, on a board with
PSRAM (ESP32-WROVER / S3: the heap grows into PSRAM, modelled with a 2 MB growth budget), where
that form is supported (docs/deploy.md). Same checks as test_soak.py; a file of its own so the
two soaks run side by side in a parallel `make test`."""
from harness import heap_total
from soak import Soak
from soak import check as _check


def test_mpy_tree_all_services_on_psram_board():
    env = {"MICROPY_HEAP_GROWTH": "2M"}
    r = Soak(form="mpy", services="all", cycles=3, cycle_s=25, env=env).run()
    _check(r, heap_total("mpy", env))
