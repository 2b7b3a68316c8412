"""A real mosquitto broker for the system tests and benches: 127.0.0.1, a free port, a
temporary config. Nothing is skipped when it is missing: `make test` installs it
(tools/ensure_deps.sh) and start() fails loudly otherwise."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _require_mosquitto():
    if not os.path.exists(MOSQUITTO) or not shutil.which("mosquitto_pub"):
        raise RuntimeError("mosquitto / mosquitto-clients not installed: run `make deps`")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def end_process(proc):
    """Terminate proc if it runs; kill it when it does not end within 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Broker:
    """mosquitto on 127.0.0.1:<random port> with a temp config; start/kill/stop by pid."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mosq")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % self.port)
        self.proc = None

    def start(self, timeout=5):
        _require_mosquitto()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", self.conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.time() + timeout
        while time.time() < end:
            if port_open(self.port):
                return time.time()
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc:
            end_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def pub(self, topic, msg, retain=False):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-m", msg]
        if retain:
            cmd.append("-r")
        subprocess.run(cmd, check=True, timeout=5)

    def sub(self, topic, count=1, wait=5, verbose=True):
        """Start mosquitto_sub in the background; .communicate() gives its output."""
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic]
        cmd += ["-C", str(count), "-W", str(wait)]
        if verbose:
            cmd.append("-v")
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def subscriber(self, *topics):
        """A mosquitto_sub on topics that is known to be subscribed once ready() returns:
        for a message that is not retained (it reaches only who is subscribed already)."""
        return Subscriber(self.port, topics)

    def get(self, topic, wait=3):
        """First message on topic (retained or within wait s), or None."""
        out, _ = self.sub(topic, 1, wait, verbose=False).communicate(timeout=wait + 5)
        return out.rstrip("\n") if out else None


class Subscriber:
    """mosquitto_sub -v on some topics plus a private sentinel topic. Its SUBSCRIBE carries
    all of them, so once a sentinel message comes back the others are subscribed too: no
    guessing with a sleep. Lines are (topic, payload), kept as they arrive."""

    def __init__(self, port, topics):
        self.port = port
        self.sentinel = "_ready/%d/%d" % (os.getpid(), id(self))
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v", "-t", self.sentinel]
        for t in topics:
            cmd += ["-t", t]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            with self.cv:
                self.lines.append((topic, payload))
                self.cv.notify_all()

    def ready(self, timeout=5):
        end = time.time() + timeout
        n = 0
        while time.time() < end:
            n += 1
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t",
                            self.sentinel, "-m", str(n)], check=True, timeout=5)
            if self.wait(lambda t, m: t == self.sentinel, 0.2, raise_=False):
                return self
        raise AssertionError("mosquitto_sub not subscribed within %.0f s" % timeout)

    def wait(self, pred, timeout=10, raise_=True):
        """The first (topic, payload) with pred(topic, payload), waiting up to timeout s."""
        end = time.time() + timeout
        with self.cv:
            while True:
                for tm in self.lines:
                    if pred(*tm):
                        return tm
                left = end - time.time()
                if left <= 0:
                    if raise_:
                        raise AssertionError("no matching message; got %r" % self.lines[-20:])
                    return None
                self.cv.wait(left)

    def close(self):
        end_process(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
