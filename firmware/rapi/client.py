# Async RAPI client: one command in flight, per-command timeout, sequence ids so a late
# reply is never taken for the next command's, bounded retry for read-only $G* commands,
# and async lines ($AT $AB $AN $WF) handed to a callback while commands run. A controller
# that does not echo the ids (a build without RAPI_SEQUENCE_ID, or an independent
# implementation) is recognised and then spoken to in plain request/reply, without ids,
# as the reference WiFi library always does.
import asyncio

from compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms
from rapi import codec


NOSEQ = 256  # _want while a command without an id is in flight: no echoed id matches it
READ_MS = 20  # a reply line begun must not pause longer than this (rapi.md 1.9: the C++
# RapiSender's RAPI_READ_TIMEOUT_MS); else its CR was damaged and it never ends
AB_MS = 50  # a controller that announced its restart ($AB) answers within this, or the
# command was sent while it booted and is lost


class RapiError(Exception):
    pass


class RapiTimeout(RapiError):
    pass


class RapiCorrupt(RapiTimeout):
    """The reply arrived but failed its checksum: as unknown as a timeout, only sooner."""


class RapiClient:
    """Talks RAPI over a byte stream.

    stream: an object asyncio.StreamReader/StreamWriter can wrap (a tty file, a UART,
    a socket). chunk: bytes per read call (1 for a blocking tty, more for a UART or a
    socket that return what is available)."""

    timeout_ms = 500
    retries = 2  # extra tries for $G* only

    def __init__(self, stream, chunk=1, on_async=None):
        if stream is not None:  # None: the tests attach their own writer
            self._r = asyncio.StreamReader(stream)
            self._w = asyncio.StreamWriter(stream, {})
        self._chunk = chunk
        self._lock = asyncio.Lock()
        self._framer = codec.Framer()
        self._seq = 0
        self._want = 0  # seq id we await (NOSEQ: a reply without one), 0 = none
        self.ids = None  # does the controller echo :SS? None until known
        self.noid = 0  # replies that came without our id while that was unknown
        self._reply = None
        self._flag = asyncio.Event()
        self.on_async = on_async
        # counters for /status and the fault tests
        self.sent = 0
        self.success = 0
        self.timeouts = 0
        self.corrupt = 0
        self.bad_lines = 0
        self.stale = 0
        self.last_ok_ms = None
        self._nbytes = 0  # bytes read so far
        self.boots = 0  # $AB lines seen
        self._ab_ms = None  # when the last one came
        self.last_rx_ms = None  # the last valid line
        self.last_heard_ms = None  # the last line of the controller's, valid or damaged

    async def reader(self):
        """Forever task: read bytes, frame, parse, dispatch."""
        r = self._r
        n = self._chunk
        framer = self._framer
        while True:
            data = await r.read(n)
            if not data:
                await sleep_ms(20)
                continue
            self._nbytes += len(data)
            for raw in framer.feed(data):
                self._dispatch(raw)

    def _dispatch(self, raw):
        # Every controller since RAPI 2.0.1 checksums its lines; requiring it means a
        # flipped '^' cannot turn a damaged line into an unchecked one.
        ln = codec.parse(raw, require_checksum=True)
        if ln is None:
            self.bad_lines += 1
            if raw[:3] in (b"$OK", b"$NK", b"$AT", b"$AB"):
                # A line of the controller's, damaged: it is there, the link is noisy. At 5 %
                # byte noise a dozen replies in a row can all fail their checksums, and
                # counting only whole lines then took the controller for lost (seconds of
                # probing and a new boot read-out). A wrong baud rate does not make these.
                self.last_heard_ms = ticks_ms()
                if self._want and raw[1] != 0x41:  # $OK / $NK, not an async $A..
                    # our reply, damaged: no need to sit out the timeout
                    self._want = 0
                    self._reply = None
                    self._flag.set()
            elif self._want and raw[1:2] != b"A":
                # a line whose head was damaged (or an empty one: its '$' lost) while a
                # reply is awaited: most likely that reply. Asyncs are rare; if this was
                # one, the reply that follows is dropped as late and the try repeated.
                # Not a sign of life: a wrong baud rate makes such lines too.
                self._want = 0
                self._reply = None
                self._flag.set()
            return
        self.last_rx_ms = self.last_heard_ms = ticks_ms()  # a valid line: alive and understood
        if ln.kind == codec.KIND_ASYNC:
            if ln.name == "AB":
                # the controller restarted: a command sent while it booted is lost, and
                # its try would keep the monitor from the restart for up to 500 ms (see
                # _once). Not ended here: an $AB read from a buffer after the command
                # went out may be followed by the command's reply.
                self.boots += 1
                self._ab_ms = ticks_ms()
            if self.on_async:
                try:
                    self.on_async(ln)
                except Exception as e:
                    print("rapi: async handler error", repr(e))
            return
        if not self._want:
            self.stale += 1
            return
        # A reply without a seq id is the controller's checksum rejection ($NK^21): the
        # command was not executed. Any other seq id is a late reply: ignore it. Any other
        # reply without an id, before an id was ever echoed, means the controller does not
        # echo them: taken as the reply, and after two of them ids are no longer sent.
        seq = ln.seq
        if seq == self._want:
            self.ids = True
        elif seq or (self.ids and (ln.kind != codec.KIND_NK or ln.fields)):
            self.stale += 1
            return
        elif self.ids is None and (ln.kind != codec.KIND_NK or ln.fields):
            self.noid += 1
            if self.noid >= 2:
                self.ids = False
                print("rapi: the controller does not echo sequence ids: plain request/reply")
        self._reply = ln
        self._want = 0
        self._flag.set()

    def _next_seq(self):
        self._seq = self._seq % 255 + 1
        return self._seq

    async def _once(self, cmd, timeout_ms):
        # without ids the token would count as an argument ("$SC 16 V :05" has 4 tokens)
        seq = self._next_seq() if self.ids is not False else 0
        frame = codec.encode(cmd, seq)
        self._reply = None
        self._flag.clear()
        self._want = seq or NOSEQ
        self.sent += 1
        n0 = self._nbytes  # bytes and restarts from here on answer this command
        b0 = self.boots
        self._w.write(frame)
        await self._w.drain()
        t0 = ticks_ms()
        # waited in slices of READ_MS: a reply whose CR was damaged runs on into the next
        # line and never completes; its bytes show it came, so the try fails once a whole
        # slice passed without a byte, not at the 500 ms timeout (on a noisy link one reply
        # in ten). "A whole slice without a byte", not "READ_MS since the last byte": after
        # a stall of the loop the bytes may wait in the driver, unread, and the reader gets
        # its turn during the next slice.
        seen = -1
        while True:
            try:
                await wait_for_ms(self._flag.wait(), READ_MS)
                break
            except asyncio.TimeoutError:
                now = ticks_ms()
                n = self._nbytes
                quiet = n == seen
                seen = n
                if quiet and ((n != n0 and self._framer.pending())
                              or (self.boots != b0 and ticks_diff(now, self._ab_ms) >= AB_MS)):
                    self._want = 0
                    self._reply = None
                    break
                if ticks_diff(now, t0) >= timeout_ms:
                    self._want = 0
                    self.timeouts += 1
                    raise RapiTimeout(cmd)
        if self._reply is None:
            self.corrupt += 1
            raise RapiCorrupt(cmd)
        return self._reply

    async def command(self, cmd, timeout_ms=None, retries=None):
        """Send one command; returns the reply codec.Line ($OK or $NK).
        Raises RapiTimeout when no reply came, ValueError for an unframeable command.
        Only $G* commands are retried: a set whose reply was lost may have been applied."""
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        if retries is None:
            retries = self.retries if cmd.lstrip("$").startswith("G") else 0
        tries = retries + 1
        # without ids a bare $NK may also be a refusal, not a checksum rejection
        resends = 2 if self.ids is not False else 0
        while True:
            tries -= 1
            # The lock is held for one try, not the whole command: on a noisy link a read
            # can take five tries (2.5 s), and a heartbeat pulse waiting for the line gets
            # in between them (asyncio.Lock hands over to the first waiter), so the
            # controller's 5 s supervision never starves.
            async with self._lock:
                try:
                    ln = await self._once(cmd, timeout_ms)
                except RapiTimeout:  # or a damaged reply (RapiCorrupt)
                    if tries <= 0:
                        raise
                    continue
            if ln.seq == 0 and ln.kind == codec.KIND_NK and resends > 0:
                # checksum rejected on the way in: not executed, so resending is safe
                resends -= 1
                tries += 1
                continue
            self.success += 1
            self.last_ok_ms = ticks_ms()
            return ln

    def forget_ids(self):
        """The link was lost: whether the next controller echoes ids is found out again."""
        self.ids = None
        self.noid = 0

    def silent_for_ms(self, now_ms=None, valid=False):
        """ms since the last line of the controller's, damaged ones included (valid=True: the
        last valid one); None before the first."""
        t = self.last_rx_ms if valid else self.last_heard_ms
        if t is None:
            return None
        return ticks_diff(ticks_ms() if now_ms is None else now_ms, t)
