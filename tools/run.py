"""Run the gateway on this PC: the virtual EVSE on a pty plus the firmware under the
MicroPython unix port. The firmware is restarted when it exits with code 3 (its
board.reset()), as a real board comes back after a reset. Ctrl-C stops everything."""
import argparse
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY = os.path.join(ROOT, ".venv", "bin", "micropython")
MICROPYPATH = ".frozen:" + ":".join(
    os.path.join(ROOT, p) for p in ("firmware", "boards/unix"))


def firmware_env(tty, http_port, data_dir, extra=None):
    env = dict(os.environ)
    env.update({"MICROPYPATH": MICROPYPATH, "RAPI_TTY": tty, "HTTP_PORT": str(http_port),
                "OEVSE_DATA": data_dir, "OEVSE_STATIC": os.path.join(ROOT, "firmware/web/static")})
    if extra:
        env.update(extra)
    return env


def start_sim(link, control_port, extra=()):
    p = subprocess.Popen([sys.executable, "-m", "sim", "--link", link,
                          "--control-port", str(control_port)] + list(extra),
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("sim:"):
        p.kill()
        raise RuntimeError("virtual EVSE did not start: %r" % line)
    print(line.strip(), flush=True)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--http-port", type=int, default=int(os.getenv("HTTP_PORT", "8080")))
    ap.add_argument("--control-port", type=int, default=int(os.getenv("SIM_PORT", "8091")))
    ap.add_argument("--data", default=os.path.join(ROOT, "data"))
    ap.add_argument("--link", default=os.path.join(ROOT, "build", "evse.tty"))
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.link), exist_ok=True)
    os.makedirs(a.data, exist_ok=True)
    sim = start_sim(a.link, a.control_port)
    fw = None
    stopping = []

    def stop(*_):
        stopping.append(1)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("gateway: web UI on http://127.0.0.1:%d  (virtual EVSE control: "
          "python -m sim ctl --port %d plug)" % (a.http_port, a.control_port), flush=True)
    try:
        while not stopping:
            if fw is None:
                fw = subprocess.Popen([MPY, os.path.join(ROOT, "firmware", "main.py")], cwd=ROOT,
                                      env=firmware_env(a.link, a.http_port, a.data))
            rc = fw.poll()
            if rc is not None:
                if rc == 3:
                    print("gateway: firmware reset, restarting", flush=True)
                    fw = None
                    continue
                print("gateway: firmware exited with", rc, flush=True)
                break
            if sim.poll() is not None:
                print("gateway: virtual EVSE exited", flush=True)
                break
            time.sleep(0.2)
    finally:
        for p in (fw, sim):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
    print("gateway: stopped", flush=True)


if __name__ == "__main__":
    main()
