# Claims arbiter: every feature that wants to start, stop or limit charging posts a
# claim here; the highest priority claim wins per property. Pure logic, no I/O.
# Mirrors the OpenEVSE ESP32 gateway's EvseManager so API clients see the same model.

# Priorities (as in the C++ gateway)
DEFAULT = 10
DIVERT = 50
TIMER = 100
BOOST = 200
API = 500
MANUAL = 1000
LIMIT = 1100
SAFETY = 5000
SHAPER = 5000  # the current shaper: the C++ gateway claims at EvseManager_Priority_Safety
ERROR = 10000

# Built-in client ids: vendor 1 << 16 | n
CLIENT_MANUAL = 65537
CLIENT_DIVERT = 65538
CLIENT_BOOST = 65539
CLIENT_SCHEDULE = 65540
CLIENT_LIMIT = 65542
CLIENT_ERROR = 65543
CLIENT_MQTT = 65547
CLIENT_SHAPER = 65548  # EvseClient_OpenEVSE_Shaper 0x0001000C

MAX_CLAIMS = 10  # claims of API clients; the gateway's own (BUILTIN) always have a place
BUILTIN = (CLIENT_MANUAL, CLIENT_DIVERT, CLIENT_BOOST, CLIENT_SCHEDULE, CLIENT_LIMIT,
           CLIENT_ERROR, CLIENT_MQTT, CLIENT_SHAPER)
PROPS = ("state", "charge_current", "max_current", "auto_release")


class ClaimError(ValueError):
    pass


def validate_props(props):
    """Check a properties dict from outside (HTTP/MQTT). Returns a clean dict or raises
    ClaimError naming the bad field. The value "clear" removes a property."""
    if not isinstance(props, dict):
        raise ClaimError("properties must be an object")
    out = {}
    for k in PROPS:
        if k not in props:
            continue
        v = props[k]
        if v == "clear":
            out[k] = None
        elif k == "state":
            if v not in ("active", "disabled"):
                raise ClaimError("state must be active or disabled")
            out[k] = v
        elif k == "auto_release":
            if not isinstance(v, bool):
                raise ClaimError("auto_release must be true or false")
            out[k] = v
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise ClaimError(k + " must be a number")
            if v < 0 or v > 1000:
                raise ClaimError(k + " out of range")
            out[k] = int(v)
    if not out:
        # {} or only unknown keys would make an empty claim: an override that silently
        # lets a paused charger resume
        raise ClaimError("no properties: give state, charge_current, max_current or auto_release")
    return out


class Claims:
    """Holds claims and resolves the charger's target.

    limits() supplies (min_a, max_a): the controller minimum and the configured
    maximum (already capped by the hardware maximum). Every resolved current is
    clamped into that range, whatever the claims say.
    """

    def __init__(self, limits, default_state="active"):
        self._limits = limits
        self.default_state = default_state
        self._claims = {}  # client -> [priority, props dict]
        self.version = 0
        self.on_change = None  # fn() called after any change

    def _changed(self):
        self.version += 1
        if self.on_change:
            self.on_change()

    def set(self, client, priority, props):
        """Create or update (merge) a claim. props values of None remove that property."""
        c = self._claims.get(client)
        if c is None:
            self._room(client)
            c = [priority, {}]
            self._claims[client] = c
        before = (c[0], dict(c[1]))
        c[0] = priority
        for k, v in props.items():
            if k not in PROPS:
                continue
            if v is None:
                c[1].pop(k, None)
            else:
                c[1][k] = v
        if (c[0], c[1]) != before:
            self._changed()

    def replace(self, client, priority, props):
        """Set a claim to exactly props (no merge)."""
        old = self._claims.get(client)
        clean = {}
        for k, v in props.items():
            if k in PROPS and v is not None:
                clean[k] = v
        if old is not None and old[0] == priority and old[1] == clean:
            return
        if old is None:
            self._room(client)
        self._claims[client] = [priority, clean]
        self._changed()

    def _room(self, client):
        # Ten API clients filling the table must not lock out Stop (the manual override),
        # the front button, divert or the limit: only a newcomer from outside is refused.
        if client in BUILTIN:
            return
        n = 0
        for c in self._claims:
            if c not in BUILTIN:
                n += 1
        if n >= MAX_CLAIMS:
            raise ClaimError("claims table full (%d clients): release one first" % MAX_CLAIMS)

    def release(self, client):
        if client in self._claims:
            del self._claims[client]
            self._changed()
            return True
        return False

    def get(self, client):
        c = self._claims.get(client)
        if c is None:
            return None
        d = dict(c[1])
        d["priority"] = c[0]
        return d

    def props(self, client):
        c = self._claims.get(client)
        return dict(c[1]) if c else None

    def list(self):
        out = []
        for client, (prio, props) in self._claims.items():
            d = {"client": client, "priority": prio}
            d.update(props)
            if "auto_release" not in d:
                d["auto_release"] = False
            out.append(d)
        return out

    def release_auto(self):
        """End of session (vehicle unplugged): drop auto_release claims."""
        gone = [c for c, (p, props) in self._claims.items() if props.get("auto_release")]
        for c in gone:
            del self._claims[c]
        if gone:
            self._changed()
        return gone

    def _winner(self, prop):
        best = None
        for client, (prio, props) in self._claims.items():
            if prop in props and (best is None or prio > best[0]):
                best = (prio, client, props[prop])
        return best

    def target(self):
        """Resolved {state, charge_current, max_current, auto_release} and the winning
        client per property: (props, winners)."""
        min_a, max_a = self._limits()
        winners = {}
        w = self._winner("state")
        state = w[2] if w else self.default_state
        if w:
            winners["state"] = w[1]
        cur = max_a
        w = self._winner("max_current")
        mx = max_a
        if w:
            winners["max_current"] = w[1]
            mx = min(mx, w[2])
        w = self._winner("charge_current")
        if w:
            winners["charge_current"] = w[1]
            cur = w[2]
        cur = clamp_current(min(cur, mx), min_a, max_a)
        w = self._winner("auto_release")
        props = {
            "state": state,
            "charge_current": cur,
            "max_current": clamp_current(mx, min_a, max_a),
            "auto_release": bool(w[2]) if w else False,
        }
        return props, winners


def clamp_current(amps, min_a, max_a):
    """The one safety clamp: any current we command lies in [min_a, max_a]."""
    if max_a < min_a:
        max_a = min_a
    if amps < min_a:
        return min_a
    if amps > max_a:
        return max_a
    return int(amps)
