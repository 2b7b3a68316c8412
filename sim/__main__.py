"""python -m sim [--link PATH] [--control-port N] ...   (run the virtual EVSE)
python -m sim ctl --port N COMMAND ...                  (talk to its control API)"""

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request


def run(argv):
    from .controller import PROFILES
    from .server import SimServer
    p = argparse.ArgumentParser(prog="python -m sim", description="Virtual OpenEVSE controller")
    p.add_argument("--link", help="symlink to create pointing at the pty slave")
    p.add_argument("--control-port", type=int, default=8091, help="HTTP control port (0 = any)")
    p.add_argument("--baud", type=int, default=115200, help="output pacing (10 bits/byte; 0 = none)")
    p.add_argument("--max-current", type=int, default=32, help="EEPROM configured max (A)")
    p.add_argument("--hw-max", type=int, default=32, help="hardware max / build L2 max (A)")
    p.add_argument("--voltage", type=int, default=240000, help="L2 voltage (mV)")
    p.add_argument("--no-ev", action="store_true", help="start with no EV plugged in")
    p.add_argument("--tcp", type=int, metavar="PORT", help="serve RAPI over TCP instead of a pty")
    p.add_argument("--tick-ms", type=int, default=100)
    p.add_argument("--seed", type=int, help="random seed for fault injection")
    p.add_argument("--profile", default="8.2.3", choices=sorted(PROFILES),
                   help="which controller to model (sim/README.md)")
    a = p.parse_args(argv)
    sim = SimServer(link=a.link, control_port=a.control_port, baud=a.baud, tcp_port=a.tcp,
                    max_current=a.max_current, hw_max=a.hw_max, voltage_mv=a.voltage,
                    ev_connected=not a.no_ev, tick_ms=a.tick_ms, seed=a.seed, profile=a.profile)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    sim.start()
    print(sim.banner(), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


CTL_HELP = """commands:
  state | log [SINCE] | plug | unplug | full on|off | ratio R
  reboot | button [short|long|verylong] | silent on|off|SECONDS | corrupt P | corrupt-in P | drop P | delay MS
  refuse [$CMD ...] (answered $NK unexecuted; none = stop) | state-code N (any code, a test hook)
  fault gfci|noground|stuck|overtemp|ppmissing|N | clear | temp T1 [T2 [T3]] (0.1 C)"""


def ctl(argv):
    p = argparse.ArgumentParser(prog="python -m sim ctl", epilog=CTL_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8091)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("cmd")
    p.add_argument("args", nargs="*")
    a = p.parse_args(argv)
    c, args = a.cmd, a.args

    def arg(i, default=None):
        if i < len(args):
            return args[i]
        if default is None:
            p.error("%s needs an argument" % c)
        return default

    onoff = lambda v: v.lower() in ("on", "1", "true", "yes")
    if c == "state":
        req = ("GET", "/state", None)
    elif c == "log":
        req = ("GET", "/log?since=%d" % int(arg(0, "0")), None)
    elif c in ("plug", "unplug"):
        req = ("POST", "/ev", {"connected": c == "plug"})
    elif c == "full":
        req = ("POST", "/ev", {"full": onoff(arg(0, "on"))})
    elif c == "ratio":
        req = ("POST", "/ev", {"draw_ratio": float(arg(0))})
    elif c == "reboot":
        req = ("POST", "/reboot", {})
    elif c == "button":
        req = ("POST", "/button", {"press": arg(0, "short")})
    elif c == "silent":
        v = arg(0, "on")
        if v.lower() in ("on", "off", "true", "false", "1", "0"):
            req = ("POST", "/faults", {"silent": onoff(v)})
        else:
            req = ("POST", "/faults", {"silent_s": float(v)})
    elif c in ("corrupt", "corrupt-out"):
        req = ("POST", "/faults", {"corrupt_out": float(arg(0))})
    elif c == "corrupt-in":
        req = ("POST", "/faults", {"corrupt_in": float(arg(0))})
    elif c == "drop":
        req = ("POST", "/faults", {"drop": float(arg(0))})
    elif c == "delay":
        req = ("POST", "/faults", {"delay_ms": int(arg(0))})
    elif c == "fault":
        v = arg(0)
        req = ("POST", "/fault", {"state": int(v, 0) if v[:1].isdigit() else v})
    elif c == "clear":
        req = ("POST", "/fault", {"state": 0})
    elif c == "refuse":
        req = ("POST", "/faults", {"refuse": args})
    elif c == "state-code":
        req = ("POST", "/fault", {"state": int(arg(0), 0), "any": True})
    elif c == "temp":
        t = {}
        for i, v in enumerate(args[:3]):
            t["temp%d" % (i + 1)] = int(v)
        req = ("POST", "/temp", t)
    else:
        p.error("unknown command %r" % c)
    method, path, body = req
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request("http://%s:%d%s" % (a.host, a.port, path), data=data,
                               method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            print(resp.read().decode())
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode(), file=sys.stderr)
        return 1
    except OSError as e:
        print("sim ctl: %s" % e, file=sys.stderr)
        return 2


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ctl":
        return ctl(argv[1:])
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
