# Hides the few differences between MicroPython and CPython that firmware code touches.
# Pure-logic modules should not need this: they take now_ms as an argument.
import time

try:
    from micropython import const  # noqa: F401
except ImportError:

    def const(x):
        return x


IS_MICROPYTHON = hasattr(time, "ticks_ms")

if IS_MICROPYTHON:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
else:
    _T0 = time.monotonic()

    def ticks_ms():
        return int((time.monotonic() - _T0) * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


import asyncio  # noqa: E402

if hasattr(asyncio, "sleep_ms"):
    sleep_ms = asyncio.sleep_ms
else:

    async def sleep_ms(ms):
        await asyncio.sleep(ms / 1000)


if hasattr(asyncio, "wait_for_ms"):
    wait_for_ms = asyncio.wait_for_ms
else:

    async def wait_for_ms(aw, ms):
        return await asyncio.wait_for(aw, ms / 1000)


try:
    from sys import print_exception  # noqa: F401
except ImportError:
    import traceback

    def print_exception(e, file=None):
        traceback.print_exception(type(e), e, e.__traceback__, file=file)


def unix_time():
    """Seconds since 1970 on both ports (the ESP32 epoch is 2000)."""
    t = int(time.time())
    if time.gmtime(0)[0] == 2000:
        t += 946684800
    return t


def drop(name):
    """Forget a module imported for one rarely used job (settings, the controller's boot
    sequence, discovery), so that its code leaves the heap once the caller is done with it."""
    import sys

    sys.modules.pop(name, None)
    i = name.rfind(".")
    if i > 0:
        pkg = sys.modules.get(name[:i])
        if pkg is not None and hasattr(pkg, name[i + 1:]):
            delattr(pkg, name[i + 1:])
