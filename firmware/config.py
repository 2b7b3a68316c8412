# Settings: the OpenEVSE-compatible keys, held in RAM. Their rules (types, ranges), loading and
# the atomic save (temp file + rename, so a power cut leaves the old or the new file) are in
# config_rules.py, imported only while settings are loaded or changed and dropped after.
from compat import drop

SECRET_MASK = "_DUMMY_PASSWORD"


class ConfigError(ValueError):
    def __init__(self, field, msg):
        super().__init__(msg)
        self.field = field
        self.msg = msg


class Config:
    """Holds settings. path: the JSON file (board data dir); None keeps them in RAM."""

    def __init__(self, path=None, defaults=None):
        import config_rules

        self.path = path
        self._v = config_rules.defaults()
        drop("config_rules")
        if defaults:
            self._v.update(defaults)
        self.version = 1
        self.on_change = []  # fn(changed_keys)
        self.note = ""  # what loading found wrong with the file (reported in /status)

    def get(self, key):
        return self._v[key]

    def __getitem__(self, key):
        return self._v[key]

    def load(self):
        """Read the saved file; unknown or invalid entries are dropped, never fatal. A damaged
        file falls back to the last good copy (config_rules.load), noted in self.note."""
        if not self.path:
            return
        import config_rules

        try:
            config_rules.load(self)
        finally:
            drop("config_rules")

    def update(self, changes):
        """Validate every value first; then apply and save. Returns the changed keys.
        Raises ConfigError (nothing applied) on the first bad field."""
        import config_rules

        try:
            clean = config_rules.validate(self, changes)
            if not clean:
                return []
            old = dict(self._v)
            self._v.update(clean)
            if self.path:
                try:
                    config_rules.save(self)
                except OSError as e:
                    self._v = old
                    raise ConfigError("", "could not save settings: %r" % e)
        finally:
            drop("config_rules")
        changed = list(clean)
        self.changed(changed)
        return changed

    def changed(self, keys):
        """Bump the version and tell the listeners (also for settings kept elsewhere, such as
        the controller's, so clients re-read /config)."""
        self.version += 1
        for fn in self.on_change:
            try:
                fn(keys)
            except Exception as e:
                print("config: listener error", repr(e))

    def public(self):
        """All settings with secrets masked (for GET /config)."""
        import config_rules

        try:
            return config_rules.public(self)
        finally:
            drop("config_rules")
