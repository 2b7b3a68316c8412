# Runs under MicroPython: drives the real RapiClient over the pty given in RAPI_TTY and
# prints one JSON line per command: {"cmd": ..., "ok": bool, "fields": [...], "seq": n}.
import asyncio
import json
import sys

import board
from rapi.client import RapiClient, RapiTimeout

CMDS = sys.argv[1:]


async def main():
    stream, chunk = board.open_uart()
    asyncs = []
    c = RapiClient(stream, chunk, on_async=lambda ln: asyncs.append(ln.raw))
    t = asyncio.create_task(c.reader())
    for cmd in CMDS:
        try:
            ln = await c.command(cmd, timeout_ms=1500)
            print(json.dumps({"cmd": cmd, "ok": ln.ok, "fields": ln.fields, "seq": ln.seq}))
        except RapiTimeout:
            print(json.dumps({"cmd": cmd, "timeout": True}))
    await asyncio.sleep_ms(300)
    print(json.dumps({"async": asyncs, "sent": c.sent, "success": c.success}))
    t.cancel()


asyncio.run(main())
