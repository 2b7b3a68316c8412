import pytest

from harness import Rig
from mosquitto import Broker


@pytest.fixture
def rig_factory():
    """rig_factory(config=None, sim_kwargs=None, env=None) -> a started Rig; closed after the test."""
    rigs = []

    def make(**kw):
        r = Rig(**kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


@pytest.fixture
def rig(rig_factory):
    r = rig_factory()
    r.wait_connected()
    return r


@pytest.fixture
def broker():
    """A running mosquitto on 127.0.0.1 (a free port)."""
    b = Broker()
    b.start()
    yield b
    b.stop()
