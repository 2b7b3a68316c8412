"""Run the gateway on this PC: the virtual EVSE on a pty plus the firmware under the
MicroPython unix port. The firmware is restarted when it exits with code 3 (its
board.reset()), as a real board comes back after a reset. Ctrl-C stops everything."""
import argparse
import os
import signal
import socket
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


def port_free(port, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def any_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pick_ports(http_port, sim_port):
    """(http, sim, dns, mdns): the HTTP port must be free (it is the address you browse to);
    a taken SIM_PORT or DNS_PORT given by you is an error, a taken default is replaced by a
    free port and said. MDNS_PORT may be shared (the firmware retries if it is not)."""
    env = os.environ
    if not port_free(http_port):
        sys.exit("run: HTTP port %d is taken (another `make run`?). Pick another: "
                 "HTTP_PORT=8081 make run" % http_port)
    out = [http_port]
    for name, port, kind, what in (("SIM_PORT", sim_port, socket.SOCK_STREAM, "virtual EVSE control"),
                                   ("DNS_PORT", int(env.get("DNS_PORT") or 5300), socket.SOCK_DGRAM,
                                    "captive DNS")):
        if not port_free(port, kind):
            if env.get(name):
                sys.exit("run: %s=%d (%s) is taken. Pick another, e.g. %s=%d" % (
                    name, port, what, name, any_port(kind)))
            new = any_port(kind)
            print("run: port %d (%s) is taken; using %d (set %s to choose)" % (port, what, new, name),
                  flush=True)
            port = new
        out.append(port)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--http-port", type=int, default=int(os.getenv("HTTP_PORT", "8080")))
    ap.add_argument("--control-port", type=int, default=int(os.getenv("SIM_PORT", "8091")))
    ap.add_argument("--data", default=None, help="settings directory (default data/, or "
                    "data-<port>/ for another HTTP_PORT, so two instances keep their own)")
    ap.add_argument("--link", default=None)
    a = ap.parse_args()
    a.http_port, a.control_port, dns_port = pick_ports(a.http_port, a.control_port)
    own = "" if a.http_port == 8080 else "-%d" % a.http_port
    a.data = a.data or os.path.join(ROOT, "data" + own)
    a.link = a.link or os.path.join(ROOT, "build", "evse%s.tty" % own)
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
                                      env=firmware_env(a.link, a.http_port, a.data,
                                                       {"DNS_PORT": str(dns_port)}))
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
