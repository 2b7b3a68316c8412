# web/ws.py: RFC 6455 WebSocket on the server's streams: the upgrade, reading frames with a
# size cap (a phone's pings and Home Assistant's control frames are tiny), and writing frames,
# including a long message as fragments so it never sits in memory whole.
import binascii
import hashlib

from web.server import head

TEXT = 1
CLOSE = 8
PING = 9
PONG = 10
MAX_MESSAGE = 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    pass


def accept_key(key):
    return binascii.b2a_base64(hashlib.sha1(key.encode() + _GUID).digest()).strip().decode()


def handshake_error(req):
    """None when req is a valid upgrade request, else an error response."""
    if req.header("upgrade").lower() != "websocket" or not req.header("sec-websocket-key"):
        return {"msg": "websocket upgrade expected"}, 400
    return None


def handshake(req):
    """The 101 response head for req (call handshake_error first)."""
    return head(101, None, None, {"Upgrade": "websocket", "Connection": "Upgrade",
                                  "Sec-WebSocket-Accept": accept_key(req.header("sec-websocket-key"))},
                False)


def frame(opcode, payload, fin=True):
    """Header + payload of one unmasked server frame (payload: bytes)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((b0, n)) + payload
    return bytes((b0, 126, n >> 8, n & 255)) + payload  # < 64 KiB


async def read_frame(reader):
    """(opcode, payload bytes) of the next client frame. Raises Closed for a frame larger than
    MAX_MESSAGE or an unmasked one (RFC 6455 5.1), EOFError when the peer is gone."""
    b = await reader.readexactly(2)
    op = b[0] & 0x0F
    n = b[1] & 0x7F
    if not b[1] & 0x80:
        raise Closed()
    if n == 126:
        e = await reader.readexactly(2)
        n = e[0] << 8 | e[1]
    elif n == 127:
        raise Closed()
    if n > MAX_MESSAGE:
        raise Closed()
    mask = await reader.readexactly(4)
    data = bytearray(await reader.readexactly(n)) if n else bytearray()
    for i in range(n):
        data[i] ^= mask[i & 3]
    return op, bytes(data)
