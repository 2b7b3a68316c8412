# ESP32-profile unix variant (see mpconfigvariant.h). Built 32-bit by tools/build_runtime.py.
SRC_C += variants/esp32/esp32_heap.c
# FROZEN_MANIFEST is always given on the command line by tools/build_runtime.py (manifest.py
# or manifest_frozen.py in tools/esp32_unix, so their relative paths reach boards/).
CFLAGS_EXTRA += -Wno-pointer-arith  # py/gc.c gc_try_add_heap does void* arithmetic (GNU C)
