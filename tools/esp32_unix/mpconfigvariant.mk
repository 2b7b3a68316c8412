# ESP32-profile unix variant (see mpconfigvariant.h). Built 32-bit by tools/build_runtime.py.
SRC_C += variants/esp32/esp32_heap.c
# FROZEN_MANIFEST is given on the command line for the frozen build; the plain build freezes
# what the standard variant freezes (asyncio, as stock ESP32 firmware does).
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
CFLAGS_EXTRA += -Wno-pointer-arith  # py/gc.c gc_try_add_heap does void* arithmetic (GNU C)
