# A tiny publish/subscribe bus. Producers publish dicts of changed status keys;
# the web socket, MQTT and Emoncms services subscribe. Subscribers must not block:
# they copy what they need and let their own task do the I/O.


class Bus:
    def __init__(self):
        self._subs = []

    def subscribe(self, fn):
        """Call fn(changes: dict) on every publish. Returns fn (usable as a decorator)."""
        self._subs.append(fn)
        return fn

    def unsubscribe(self, fn):
        if fn in self._subs:
            self._subs.remove(fn)

    def publish(self, changes):
        if not changes:
            return
        for fn in self._subs:
            try:
                fn(changes)
            except Exception as e:  # a broken subscriber must not stop the others
                print("events: subscriber error", repr(e))
