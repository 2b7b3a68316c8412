# OpenEVSE MicroPython gateway. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PY := .venv/bin/python
MPY := .venv/bin/micropython
MP32 := build/mp32/micropython
MICROPYPATH_FW := .frozen:firmware:boards/unix
FW_SOURCES := $(shell find firmware boards -name '*.py' 2>/dev/null)

.PHONY: screenshots run test test-mpy bench bench-divert deps venv web mpy runtime deploy clean

venv: .venv/.stamp
.venv/.stamp: requirements.txt
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
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
$(MP32): tools/build_runtime.py $(wildcard tools/esp32_unix/*) | deps venv
	$(PY) tools/build_runtime.py plain
build/mp32-frozen/micropython: tools/build_runtime.py $(wildcard tools/esp32_unix/*) $(FW_SOURCES) | deps venv
	$(PY) tools/build_runtime.py frozen

test: venv web deps runtime test-mpy
	$(PY) -m pytest -q tests

# The pure-logic unit tests under MicroPython: the PC's 64-bit port and the ESP32 profile.
test-mpy: venv $(MP32)
	MICROPYPATH=$(MICROPYPATH_FW):tests/unit $(MPY) tests/run_mpy.py
	MICROPYPATH=$(MICROPYPATH_FW):tests/unit MICROPY_HEAP_GROWTH=4M $(MP32) tests/run_mpy.py

bench: venv web deps runtime
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

bench-divert: venv
	$(PY) bench/divert_bench.py

# Precompiled firmware tree for the board (bytecode .mpy; main.py stays source).
mpy: venv web
	$(PY) tools/build_mpy.py

# Copy build/device/ into the board's filesystem root (docs/deploy.md). main.py is removed and
# the board hard-reset first, so the firmware and its 30 s watchdog are not running during the
# copy; stale firmware files are pruned (/data and boot.py are kept); main.py is copied last.
# fs cp skips files whose SHA-256 already matches, so re-running after an interruption resumes.
deploy: mpy
	@test -n "$(PORT)" || (echo "usage: make deploy PORT=/dev/ttyUSB0" && exit 2)
	.venv/bin/mpremote connect $(PORT) exec "import os; 'main.py' in os.listdir() and os.remove('main.py')" + reset
	sleep 3
	cd build/device && $(CURDIR)/.venv/bin/mpremote connect $(PORT) run ../deploy_prune.py + fs cp -r $$(ls | grep -vx main.py) : + fs cp main.py :main.py + reset

clean:
	rm -rf build

# Refresh the committed UI screenshots (docs/screenshots) from the browser tests.
screenshots: venv web deps
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/system/test_browser.py
