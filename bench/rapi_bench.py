"""RAPI round-trip latency and throughput over a real pty, the firmware's RapiClient under
MicroPython against the virtual EVSE pacing its bytes at 115200 baud, next to the wire-speed
limit for the same bytes (10 bits per byte, no processing time). Then the resend storm: what
the whole gateway sends in a minute to a controller that refuses $FE, and to one whose own
delay timer undoes every $FE (relay closures counted).

  --storm-only [--firmware DIR]   only the storm minutes, optionally for another firmware
                                  tree (DIR/firmware, DIR/boards), e.g. an older commit:
                                  git archive 77f6e57 firmware boards | tar -x -C /tmp/base"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sim.server import SimServer  # noqa: E402
from tools.run import MPY, firmware_env  # noqa: E402
import urllib.request  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "system", "mpy", "rapi_latency.py")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def boot_times(runs=5):
    """Seconds from starting the firmware process to /status reporting evse_connected."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
    from harness import Rig, wait_for

    out = []
    for _ in range(runs):
        r = Rig()
        try:
            wait_for(lambda: r.get("/status", timeout=1)[1].get("evse_connected") == 1, 15,
                     interval=0.02, what="evse_connected")
            out.append(time.monotonic() - r.t_start)
        finally:
            r.close()
    return out


def _http(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"null")


def _until(pred, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def storm(scenario, fw_dir=ROOT, seconds=60):
    """One minute of the gateway (firmware tree fw_dir) against a controller that refuses $FE
    ("refuse") or whose delay timer undoes it ("timer"); returns the counts."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
    from harness import free_port

    with tempfile.TemporaryDirectory() as tmp:
        link = os.path.join(tmp, "evse.tty")
        prof = "timer" if scenario == "timer" else "8.2.3"
        sim = SimServer(link=link, control_port=0, ev_connected=scenario != "timer", profile=prof).start()
        port = free_port()
        env = firmware_env(link, port, tmp, {"DNS_PORT": str(free_port(socket.SOCK_DGRAM)),
                                             "MDNS_PORT": str(free_port(socket.SOCK_DGRAM))})
        env["MICROPYPATH"] = ".frozen:%s/firmware:%s/boards/unix" % (fw_dir, fw_dir)
        fw = subprocess.Popen([MPY, os.path.join(fw_dir, "firmware", "main.py")], cwd=fw_dir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _until(lambda: _http(port, "GET", "/status").get("evse_connected") == 1, 20, "gateway")
            if scenario == "refuse":
                _until(lambda: sim.state()["state"] == 3, 10, "charging")
                _http(port, "POST", "/override", {"state": "disabled"})
                _until(lambda: sim.state()["state"] == 0xFE, 10, "paused")
                sim.set_faults(refuse=["$FE"])
                _http(port, "DELETE", "/override")
            else:
                sim.set_ev(connected=True)  # its timer (22:00-06:00, clock at noon) keeps it asleep
            n0 = sim.log_len()
            c0 = sim.state()["relay_closures"]
            time.sleep(seconds)
            log = sim.log_since(n0)
            st = _http(port, "GET", "/status")
            return {"scenario": scenario, "fe": sum(1 for e in log if e["name"] == "$FE"),
                    "commands": sum(1 for e in log if e["name"][0] == "$"),
                    "relay_closures": sim.state()["relay_closures"] - c0,
                    "set_retry": st.get("set_retry", "-"), "seconds": seconds}
        finally:
            fw.terminate()
            fw.wait(5)
            sim.stop()


def print_storm(rows, label):
    print("Resend storm, %s: one minute of the gateway, counted by the virtual EVSE" % label)
    for d in rows:
        what = {"refuse": "controller refuses $FE (answers $NK)",
                "timer": "controller's delay timer undoes $FE"}[d["scenario"]]
        print("%-40s $FE %3d/min  all commands %4d/min  relay closures %3d  set_retry %r" % (
            what, d["fe"] * 60 // d["seconds"], d["commands"] * 60 // d["seconds"],
            d["relay_closures"], d["set_retry"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="round trips per command")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--storm-only", action="store_true")
    ap.add_argument("--firmware", default=ROOT, help="firmware tree for the storm minutes")
    a = ap.parse_args()
    if a.storm_only:
        print_storm([storm(s, os.path.abspath(a.firmware)) for s in ("refuse", "timer")],
                    "firmware from " + os.path.abspath(a.firmware))
        return
    cmds = ["$GS", "$GG", "$GC", "$SY", "$SC 16 V"]
    with tempfile.TemporaryDirectory() as tmp:
        link = os.path.join(tmp, "evse.tty")
        with SimServer(link=link, control_port=0, baud=a.baud, ev_connected=False):
            time.sleep(0.3)
            out = subprocess.run([MPY, SCRIPT, str(a.n)] + cmds, env=firmware_env(link, 0, tmp),
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        print(out.stdout, out.stderr)
        sys.exit(1)
    rows = []
    for line in out.stdout.splitlines():
        d = json.loads(line)
        us = d["us"]
        wire_us = (d["bytes_out"] + d["bytes_in"]) * 10 * 1e6 / a.baud
        reply_us = d["bytes_in"] * 10 * 1e6 / a.baud
        rows.append({
            "reply_wire_ms": reply_us / 1000, "overhead_ms": (pct(us, 50) - reply_us) / 1000,
            "cmd": d["cmd"], "n": len(us), "median_ms": pct(us, 50) / 1000, "p99_ms": pct(us, 99) / 1000,
            "cmds_per_s": len(us) / (d["total_us"] / 1e6), "bytes": d["bytes_out"] + d["bytes_in"],
            "wire_ms": wire_us / 1000, "wire_cmds_per_s": 1e6 / wire_us, "timeouts": d["timeouts"],
        })
    boots = boot_times()
    if a.json:
        print(json.dumps({"commands": rows, "boot_to_connected_s": boots}, indent=1))
        return
    print("RAPI over a pty at %d baud (virtual EVSE paces its output), %d round trips each" % (a.baud, a.n))
    print("The pty paces only the controller's replies; a real UART also spends the command's bytes.")
    print("%-9s %5s %9s %7s %7s | %9s %9s | %8s %11s" % (
        "command", "bytes", "median ms", "p99 ms", "cmds/s", "reply ms", "overhead", "wire ms", "wire cmds/s"))
    for r in rows:
        print("%-9s %5d %9.2f %7.2f %7.0f | %9.2f %9.2f | %8.2f %11.0f" % (
            r["cmd"], r["bytes"], r["median_ms"], r["p99_ms"], r["cmds_per_s"], r["reply_wire_ms"],
            r["overhead_ms"], r["wire_ms"], r["wire_cmds_per_s"]))
    print("reply ms: wire time of the reply alone (what the pty paces); overhead: median - reply ms,")
    print("i.e. MicroPython framing/parsing/asyncio plus the simulator; wire ms: command + reply at the baud rate.")
    print("firmware start -> evse_connected in /status (%d runs): median %.2f s, max %.2f s" % (
        len(boots), pct(boots, 50), max(boots)))
    print()
    print_storm([storm(s) for s in ("refuse", "timer")], "this firmware")


if __name__ == "__main__":
    main()
