// GC heap budget of a stock ESP32_GENERIC (no PSRAM), for the unix port.
//
// On the chip (ports/esp32, MicroPython 1.22+) the Python heap starts as one 56 KB area
// (MICROPY_GC_INITIAL_HEAP_SIZE) and py/gc.c adds further areas from the IDF heap when an
// allocation fails (gc_try_add_heap: at least double the total). ports/esp32 answers
// gc_get_max_new_split() with the largest free IDF block. PR #13219 measured the result:
// after one growth the Python heap is 111,936 B with about 40 KB of IDF heap left, which
// WiFi, lwIP and one TLS session need. So this profile gives the GC one more area of at most
// ESP32_PROFILE_GROWTH bytes (56 KB: about 110 KB in all) and nothing after that: a program
// that needs more fails here with MemoryError instead of silently starving the radio.
//
// The first area's size is -X heapsize (default 56 KB here). The growth budget can be
// changed for experiments with the environment variable MICROPY_HEAP_GROWTH (bytes, K or M
// suffix). Areas freed by the GC (empty after a sweep) return to the budget, as on the chip.
#include <stdlib.h>
#include "py/mpconfig.h"
#include "py/gc.h"

#define ESP32_PROFILE_INITIAL (56 * 1024)
#define ESP32_PROFILE_GROWTH (56 * 1024)

extern long heap_size;  // ports/unix/main.c: the first area, set by -X heapsize

static size_t growth_used;
static long growth_budget = -1;

__attribute__((constructor)) static void esp32_profile_init(void) {
    heap_size = ESP32_PROFILE_INITIAL;
}

static size_t budget(void) {
    if (growth_budget < 0) {
        growth_budget = ESP32_PROFILE_GROWTH;
        const char *s = getenv("MICROPY_HEAP_GROWTH");
        if (s != NULL && *s) {
            char *end;
            long v = strtol(s, &end, 0);
            if (*end == 'K' || *end == 'k') {
                v *= 1024;
            } else if (*end == 'M' || *end == 'm') {
                v *= 1024 * 1024;
            }
            if (v >= 0) {
                growth_budget = v;
            }
        }
    }
    return (size_t)growth_budget;
}

size_t gc_get_max_new_split(void) {
    size_t b = budget();
    return growth_used < b ? b - growth_used : 0;
}

void *esp32_profile_alloc_heap(size_t size) {
    if (size > gc_get_max_new_split()) {
        return NULL;
    }
    size_t *p = malloc(size + sizeof(size_t) * 2);  // keep the area 8-byte aligned
    if (p == NULL) {
        return NULL;
    }
    p[0] = size;
    growth_used += size;
    return p + 2;
}

void esp32_profile_free_heap(void *ptr) {
    size_t *p = (size_t *)ptr - 2;
    growth_used -= p[0];
    free(p);
}
