# RapiClient against a scripted wire (no I/O): sequence ids, controllers that do not echo
# them, stale replies. Runs under both interpreters.
import asyncio

from rapi import codec
from rapi.client import RapiClient, RapiCorrupt, RapiTimeout


def _frame(text):
    body = text.encode()
    return body + b"^%02X" % codec.xor_sum(body)


class Wire:
    """The controller's side: answers each frame the client writes by feeding the reply line
    back to it. echo: append the :SS the command carried (RAPI_SEQUENCE_ID); else the id
    token stays an argument, as in a build without it (so '$SC 16 V :05' has 4 tokens)."""

    def __init__(self, client, echo=True):
        self.c = client
        self.echo = echo
        self.got = []
        self.extra = []  # lines sent before the reply (late replies, noise)

    def write(self, frame):
        self.got.append(frame)
        body = frame[1:frame.find(b"^")].decode()  # '$SC 16 V :05^xx' -> 'SC 16 V :05'
        toks = body.split(" ")
        seq = 0
        if self.echo and toks[-1].startswith(":"):
            seq = int(toks[-1][1:], 16)
            toks = toks[:-1]
        reply = "$OK"
        if toks[0] == "GV":
            reply = "$OK 8.2.3 5.2.1"
        elif toks[0] == "SC":
            reply = "$OK %s" % toks[1] if len(toks) <= 3 else "$NK"
        if seq:
            reply += " :%02X" % seq
        for x in self.extra:
            self.c._dispatch(x)
        self.extra = []
        self.c._dispatch(_frame(reply))

    async def drain(self):
        pass


def _client(echo=True):
    c = RapiClient(None)
    c._w = Wire(c, echo)
    return c


def test_echoing_controller_gets_ids_and_stale_replies_are_dropped():
    c = _client()
    ln = asyncio.run(c.command("$GV"))
    assert ln.fields == ["8.2.3", "5.2.1"] and c.ids is True
    assert b" :01^" in c._w.got[0]
    c._w.extra = [_frame("$OK 12 :01")]  # a late reply to the previous command
    ln = asyncio.run(c.command("$SC 16 V"))
    assert ln.fields == ["16"] and c.stale == 1
    c._w.extra = [_frame("$OK 9")]  # an echoing controller never sends a reply without one
    ln = asyncio.run(c.command("$SC 10 V"))
    assert ln.fields == ["10"] and c.stale == 2


def test_controller_without_ids_is_detected_and_spoken_to_plainly():
    c = _client(echo=False)
    ln = asyncio.run(c.command("$GV"))  # the very first reply is taken
    assert ln.ok and ln.fields == ["8.2.3", "5.2.1"] and c.ids is None
    asyncio.run(c.command("$GS"))
    assert c.ids is False and c.noid == 2
    n = len(c._w.got)
    ln = asyncio.run(c.command("$SC 16 V"))
    assert ln.ok and ln.fields == ["16"]  # no id token, so 3 tokens: taken
    assert b":" not in c._w.got[n]
    c.forget_ids()  # the link was lost: found out again with the next controller
    assert c.ids is None and c.noid == 0


def test_checksum_rejection_is_resent_then_reported():
    c = _client()
    c._w = None

    class Reject:
        def __init__(self):
            self.n = 0

        def write(self, frame):
            self.n += 1
            c._dispatch(_frame("$NK"))  # $NK^21: not executed, no id

        async def drain(self):
            pass

    c._w = Reject()
    ln = asyncio.run(c.command("$FE"))
    assert c._w.n == 3 and not ln.ok  # resent twice: it was not executed


def test_timeout_raises():
    c = _client()

    class Silent:
        def write(self, frame):
            pass

        async def drain(self):
            pass

    c._w = Silent()
    try:
        asyncio.run(c.command("$FE", timeout_ms=20))
    except RapiTimeout:
        pass
    else:
        raise AssertionError("no timeout")
    assert c.timeouts == 1


def test_a_reply_whose_cr_was_damaged_fails_its_try_without_the_timeout():
    # rapi.md 1.9: once a reply's bytes come, the C++ RapiSender gives the line 20 ms to
    # end. A reply whose CR was damaged never ends (it runs on into the next line): the
    # try fails as damaged, not as a timeout after all of timeout_ms.
    c = _client()

    class HalfLine:
        def write(self, frame):
            c._framer.feed(b"$OK 6 32 32")  # the rest, with its CR, damaged away
            c._nbytes += 11

        async def drain(self):
            pass

    c._w = HalfLine()
    try:
        asyncio.run(c.command("$GC", timeout_ms=3000, retries=0))
    except RapiCorrupt:
        pass
    else:
        raise AssertionError("no error")
    assert c.corrupt == 1 and c.timeouts == 0


def test_a_controller_restart_fails_the_try_in_flight_without_the_timeout():
    # $AB: the controller restarted, and a command sent while it booted gets no answer. The
    # try fails soon after the $AB (AB_MS), not at the 500 ms timeout, which kept the monitor
    # from pausing the restarted controller again; a reply that follows the $AB is taken.
    for answer in (False, True):
        c = _client()
        wire = c._w

        class Rebooting:
            got = []

            def write(self, frame):
                self.got.append(frame)
                c._dispatch(_frame("$AB 00 8.2.3"))
                if answer:
                    wire.write(frame)  # the controller, up again, answers

            async def drain(self):
                pass

        c._w = Rebooting()
        try:
            ln = asyncio.run(c.command("$GS", timeout_ms=3000, retries=1))
        except RapiCorrupt:
            ln = None
        assert c.boots == len(c._w.got) and c.timeouts == 0
        if answer:
            assert ln is not None and ln.ok and len(c._w.got) == 1
        else:
            assert ln is None and len(c._w.got) == 2 and c.corrupt == 2


def test_a_waiting_command_goes_out_between_the_tries_of_another():
    # On a noisy link a read can take all its tries; a heartbeat pulse waiting for the line
    # must not wait for all of them (the controller's supervision expires after 5 s).
    c = _client()

    class Deaf:
        """Answers $SY at once; every $GS reply is lost."""

        def __init__(self):
            self.got = []

        def write(self, frame):
            body = frame[1:frame.find(b"^")].decode().split(" ")
            self.got.append(body[0])
            if body[0] == "SY":
                c._dispatch(_frame("$OK %s" % body[-1]))

        async def drain(self):
            pass

    c._w = Deaf()
    c.ids = True
    order = []

    async def read():
        try:
            await c.command("$GS", timeout_ms=30)  # 3 tries, all lost
        except RapiTimeout:
            order.append("GS gave up")

    async def pulse():
        await asyncio.sleep(0.01)  # queued while the first $GS try is in flight
        await c.command("$SY")
        order.append("SY done")

    async def both():
        await asyncio.gather(read(), pulse())

    asyncio.run(both())
    assert c._w.got == ["GS", "SY", "GS", "GS"], c._w.got
    assert order == ["SY done", "GS gave up"], order


def test_a_reply_with_its_head_damaged_ends_the_wait_at_once():
    # At 5 % byte noise one reply in five loses its '$' or the "OK"/"NK" after it; the try
    # then sat out the whole 500 ms timeout. Such a line while a reply is awaited fails
    # the try at once (the command is tried again), and is no sign of life.
    for junk in (b"", b"$QK 6 32 16 16 :01^00"):
        c = _client()
        c._w.extra = [junk]  # arrives before the real reply: the try ends on it
        ln = asyncio.run(c.command("$GC", timeout_ms=2000))
        assert ln.ok and c.corrupt == 1 and c.timeouts == 0  # no timeout; the retry got the reply
    c = _client()
    c._dispatch(b"")  # nothing awaited: only counted
    assert c.bad_lines == 1 and c.silent_for_ms() is None


def test_a_damaged_line_of_the_controllers_shows_it_is_there():
    # Silence means no line at all: a noisy link where every checksum fails is a controller
    # that is there (monitor: no "controller silent" and a new boot read-out for it).
    c = _client()
    assert c.silent_for_ms() is None
    c._dispatch(b"\x13\xfe garbage")  # what a wrong baud rate makes
    c._dispatch(b"$XY 1^00")
    assert c.silent_for_ms() is None and c.bad_lines == 2
    c._dispatch(b"$OK 5 6 0 :0A^00")  # a reply, checksum wrong
    assert c.silent_for_ms() is not None and c.bad_lines == 3
    assert c.silent_for_ms(valid=True) is None  # none understood: after 20 s, lost all the same
    c.last_heard_ms = None
    c._dispatch(b"$AT 03 03 32 0100^00")  # an async line, damaged
    assert c.silent_for_ms() is not None and c.bad_lines == 4
