// ESP32-profile variant of the MicroPython unix port, built 32-bit (MICROPY_FORCE_32BIT=1) by
// tools/build_runtime.py. It mirrors what decides heap use on a stock ESP32_GENERIC
// (ports/esp32/mpconfigport.h, MicroPython 1.28): 4-byte words and 16-byte GC blocks, object
// representation A, single-precision floats (boxed on the heap), MPZ long ints, ROM level
// "extra features", and a split GC heap that starts at 56 KB and grows on demand
// (MICROPY_GC_INITIAL_HEAP_SIZE, MICROPY_GC_SPLIT_HEAP_AUTO). See esp32_heap.c for the growth cap.

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// ports/esp32/mpconfigport.h: MICROPY_FLOAT_IMPL_FLOAT (every float is a heap object).
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)

// Split heap with automatic growth, as ports/esp32 since 1.22 (PR #12141, #13219).
#define MICROPY_GC_SPLIT_HEAP (1)
#define MICROPY_GC_SPLIT_HEAP_AUTO (1)

// New heap areas come from a capped budget (esp32_heap.c), as on the chip from the IDF heap.
#include <stddef.h>
void *esp32_profile_alloc_heap(size_t size);
void esp32_profile_free_heap(void *ptr);
#define MP_PLAT_ALLOC_HEAP(size) esp32_profile_alloc_heap(size)
#define MP_PLAT_FREE_HEAP(ptr) esp32_profile_free_heap(ptr)

#include "../mpconfigvariant_common.h"
