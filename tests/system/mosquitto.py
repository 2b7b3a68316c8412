"""A real mosquitto broker for the system tests and benches: 127.0.0.1, a free port, a
temporary config. Nothing is skipped when it is missing: `make test` installs it
(tools/ensure_deps.sh) and start() fails loudly otherwise."""
import os
import shutil
import socket
import subprocess
import tempfile
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
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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

    def get(self, topic, wait=3):
        """First message on topic (retained or within wait s), or None."""
        out, _ = self.sub(topic, 1, wait, verbose=False).communicate(timeout=wait + 5)
        return out.rstrip("\n") if out else None
