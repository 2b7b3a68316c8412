# Runs under MicroPython: N round trips of each command over the pty in RAPI_TTY.
# Prints JSON {"cmd": ..., "us": [latencies], "bytes_out": n, "bytes_in": n, "total_us": t}.
import asyncio
import json
import sys
import time

import board
from rapi import codec
from rapi.client import RapiClient

N = int(sys.argv[1])
CMDS = sys.argv[2:]


async def main():
    stream, chunk = board.open_uart()
    c = RapiClient(stream, chunk)
    t = asyncio.create_task(c.reader())
    await c.command("$GV")  # warm up
    for cmd in CMDS:
        lat = []
        bytes_in = 0
        t0 = time.ticks_us()
        for _ in range(N):
            a = time.ticks_us()
            ln = await c.command(cmd, timeout_ms=1000)
            lat.append(time.ticks_diff(time.ticks_us(), a))
            bytes_in = len(ln.raw) + 4  # '^XX' and CR
        total = time.ticks_diff(time.ticks_us(), t0)
        print(json.dumps({"cmd": cmd, "us": lat, "bytes_out": len(codec.encode(cmd, 0x2A)),
                          "bytes_in": bytes_in, "total_us": total, "timeouts": c.timeouts}))
    t.cancel()


asyncio.run(main())
