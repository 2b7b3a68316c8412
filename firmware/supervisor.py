# Task supervision: a service task that crashes is logged and started again after a pause,
# so one bug never takes the whole gateway down.
import asyncio
import gc

from compat import print_exception, sleep_ms


async def supervise(name, factory, pause_ms=1000, log=print):
    """Run `await factory()` forever; after a crash or a return, log it and run it again.
    Cancellation (shutdown) ends the supervisor. Returns never."""
    restarts = 0
    while True:
        try:
            await factory()
            log("main: task %s ended; restarting" % name)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log("main: task %s crashed: %r" % (name, e))
            print_exception(e)
        restarts += 1
        gc.collect()
        await sleep_ms(pause_ms)
