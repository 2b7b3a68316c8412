"""TCP proxy whose link can be frozen, to imitate a dead WiFi link (CPython asyncio).

    python tests/tools/freezeproxy.py --target 127.0.0.1:1883 [--listen 0] [--flag FILE]

Prints "LISTEN <port>" on stdout once it accepts connections. While FILE exists (or after
SIGUSR1, until the next SIGUSR1) the link is frozen: bytes in both directions are held,
new connections are accepted but nothing is forwarded, and closes are deferred, so
neither end sees an error, only silence. When the freeze ends everything held is
delivered in order, as TCP would after a radio outage.
"""

import argparse
import asyncio
import os
import signal
import sys


class FreezeProxy:
    def __init__(self, target_host, target_port, flag=None):
        self.target = (target_host, target_port)
        self.flag = flag
        self.toggled = False
        self.server = None

    def frozen(self):
        return self.toggled or (self.flag is not None and os.path.exists(self.flag))

    async def _thaw(self):
        while self.frozen():
            await asyncio.sleep(0.02)

    async def _pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(4096)
                await self._thaw()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await self._thaw()
            try:
                writer.close()
            except Exception:
                pass

    async def _client(self, creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(*self.target)
        except OSError:
            await self._thaw()
            cwriter.close()
            return
        await asyncio.gather(self._pump(creader, uwriter), self._pump(ureader, cwriter))

    async def start(self, port=0):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]


async def _main(args):
    host, port = args.target.rsplit(":", 1)
    proxy = FreezeProxy(host, int(port), args.flag)

    def toggle(*_):
        proxy.toggled = not proxy.toggled

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, toggle)
    except (NotImplementedError, AttributeError):
        pass
    lport = await proxy.start(args.listen)
    print("LISTEN", lport, flush=True)
    await asyncio.Event().wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--listen", type=int, default=0, help="port to listen on (0: any free)")
    ap.add_argument("--flag", help="the link is frozen while this file exists")
    args = ap.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
