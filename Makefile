# OpenEVSE MicroPython gateway. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PY := .venv/bin/python
MPY := .venv/bin/micropython
MICROPYPATH_FW := .frozen:firmware:boards/unix:build/mpylib
MICROPYDOT := microdot==2.7.0

.PHONY: screenshots run test test-unit test-mpy test-system bench bench-divert deps venv mpylib web mpy deploy clean

venv: .venv/.stamp
.venv/.stamp: requirements.txt
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# microdot for the MicroPython side (pure Python, same pinned release)
mpylib: build/mpylib/.stamp
build/mpylib/.stamp: .venv/.stamp
	rm -rf build/mpylib && mkdir -p build/mpylib
	.venv/bin/pip install -q --disable-pip-version-check --no-deps --target build/mpylib $(MICROPYDOT)
	rm -rf build/mpylib/*.dist-info build/mpylib/microdot/*.pyi build/mpylib/microdot/py.typed
	touch $@

web: .venv/.stamp
	@if [ -f tools/build_web.py ]; then $(PY) tools/build_web.py; fi

run: venv mpylib web
	$(PY) tools/run.py

# Debian packages the system tests use (mosquitto, chromium); installed when missing.
deps:
	@bash tools/ensure_deps.sh

test: venv mpylib web deps test-mpy
	$(PY) -m pytest -q tests

test-mpy: venv mpylib
	MICROPYPATH=$(MICROPYPATH_FW):tests/unit $(MPY) tests/run_mpy.py

bench: venv mpylib web deps
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

bench-divert: venv
	$(PY) bench/divert_bench.py

# Precompiled firmware tree for the board (bytecode .mpy; main.py stays source).
mpy: venv mpylib web
	$(PY) tools/build_mpy.py

deploy: mpy
	@test -n "$(PORT)" || (echo "usage: make deploy PORT=/dev/ttyUSB0" && exit 2)
	.venv/bin/mpremote connect $(PORT) fs cp -r build/device/ : + reset

clean:
	rm -rf build

# Refresh the committed UI screenshots (docs/screenshots) from the browser tests.
screenshots: venv mpylib web deps
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/system/test_browser.py
