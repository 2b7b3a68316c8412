# The weekly scheduler's resident part (the C++ gateway's scheduler.cpp): the events in a
# compact list, stepped by the clock's task (clock.TimeService) when the next event starts. Everything else (checking,
# saving, the week's plan, working out the event in force and its claim) is schedule.py,
# imported for each job and dropped after, so the resident cost is this class and the list.
from compat import drop

STEP_S = 60  # re-evaluated at least this often (a clock set, a time zone change)


def _cold(fn, *args):
    import schedule

    try:
        return getattr(schedule, fn)(*args)
    finally:
        drop("schedule")


class SchedulerService:
    """gw.scheduler. events: [id, seconds from local midnight, days bit mask (bit 0 Sunday),
    active (bool), current A or 0]."""

    def __init__(self, gw):
        self.gw = gw
        self.events = []
        self.version = 1
        self.plan_version = 1
        self.seed = 0  # the random start offsets; new at each change (scheduler.cpp rebuilds)
        self.current = None  # (event id, day, start) in force
        self.claimed = False
        self.due = 0  # uptime s of the next evaluation
        _cold("load", self)
        gw.config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "scheduler_start_window" in keys or "time_zone" in keys:
            self.poke()

    def poke(self):
        self.due = 0
        t = getattr(self.gw, "time", None)
        if t is not None:
            t.wake.set()

    def status(self):
        return {"schedule_version": self.version, "schedule_plan_version": self.plan_version}

    # the API (web/api_sched.py, MQTT schedule/set and schedule/clear)
    def list(self, ev_id=None):
        return _cold("listing", self, ev_id)

    def update(self, body, ev_id=None):
        """One event or a list (upsert by id). Raises ValueError naming what is wrong."""
        _cold("update", self, body, ev_id)

    def remove(self, ev_id):
        return _cold("remove", self, ev_id)

    def plan(self):
        return _cold("plan", self)

    def tick(self, up):
        """Called by the clock's task with the uptime; seconds until it is due again."""
        if up >= self.due:
            try:
                wait = _cold("evaluate", self)
            except Exception as e:  # a bad schedule must not stop the clock's task
                print("scheduler:", repr(e))
                wait = STEP_S
            self.due = up + min(wait, STEP_S)
        return self.due - up
