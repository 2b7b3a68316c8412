"""WiFi benchmark: the firmware (frozen into the ESP32-profile runtime, as on a WROOM board)
on the radio model with the chip's timings (boards/unix/wlan.py: a scan dwells on 13
channels, ~2 s, plus ~1 s of home-channel returns with the AP up or the STA joined; a join
~1.5 s; a beacon timeout 3 s) and the WiFi manager's own timers (net/wifi.py T).

python bench/wifi_bench.py [--form frozen|src]

Prints, from a 10 ms ticker inside the firmware's asyncio loop (tests/system/mpy/stallprobe.py):
  * the loop stall of a scan (/scan with the setup AP up, and joined), which is the chip's
    blocking esp_wifi_scan_start(); a /scan during a join is answered from the cache;
  * the worst loop stall outside scans over the whole run (first setup, a join, a wrong
    password, a router outage of 5 s and its return);
  * first join (credentials posted -> connected) and outage recovery times.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from harness import Rig, wait_for  # noqa: E402

WORLD = {"networks": [
    {"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6, "password": "correct horse"},
    {"ssid": "Neighbour", "rssi": -80, "security": 3, "channel": 11, "password": "x"},
], "extra": 20, "stations": 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--form", default="frozen", choices=("frozen", "src"))
    a = ap.parse_args()
    r = Rig(wlan=WORLD, probe=True, form=a.form)
    try:
        r.wait_connected(20)

        def state():
            return r.status().get("wifi_state")

        def scan_stall(before):
            wait_for(lambda: r.stalls()[1] > before, 10, what="scan seen by the probe")
            return r.stalls()[1]

        t0 = time.monotonic()
        code, nets = r.phone("GET", "/scan")[0::2]
        t_scan_ap = time.monotonic() - t0
        s_ap = scan_stall(0)
        t0 = time.monotonic()
        r.phone("POST", "/savenetwork", "ssid=HomeNetwork&pass=wrong")
        wait_for(lambda: state() == "failed", 30, what="wrong password reported")
        t_wrong = time.monotonic() - t0
        err = r.status()["wifi_error"]
        scans = r.radio()["scans"]
        t0 = time.monotonic()
        r.phone("POST", "/savenetwork", "ssid=HomeNetwork&pass=correct+horse")
        wait_for(lambda: state() == "connecting", 5, what="connecting")
        t1 = time.monotonic()
        n_busy = len(r.phone("GET", "/scan")[2])  # during the join: the cache
        busy = time.monotonic() - t1
        busy_radio = r.radio()["scans"] - scans
        wait_for(lambda: state() in ("joined", "connected"), 20, what="joined")
        t_join = time.monotonic() - t0
        r.phone("GET", "/status")  # the phone is shown the address; the AP closes
        wait_for(lambda: state() == "connected", 20, what="connected")
        r.change_world(stations=0)
        time.sleep(16)  # the cached list goes stale
        t0 = time.monotonic()
        r.get("/scan")
        t_scan_sta = time.monotonic() - t0
        s_sta = r.stalls()[1]
        r.change_world(networks=[dict(WORLD["networks"][0], up=False)] + WORLD["networks"][1:])
        wait_for(lambda: state() == "lost", 10, what="link lost")
        t_down = time.monotonic()
        time.sleep(5)
        r.change_world(networks=WORLD["networks"])
        t0 = time.monotonic()
        wait_for(lambda: state() == "connected", 30, what="back")
        t_back = time.monotonic() - t0
        stall, _ = r.stalls()
        rad = r.radio()
        print("WiFi on the radio model, %s form (%d networks in range, %d listed)"
              % (a.form, len(WORLD["networks"]) + WORLD["extra"], len(nets)))
        print("scan, setup AP up        /scan %5.2f s   loop stall %5d ms" % (t_scan_ap, s_ap))
        print("scan, joined             /scan %5.2f s   loop stall %5d ms (worst scan so far)"
              % (t_scan_sta, s_sta))
        print("scan during a join       /scan %5.2f s   %d networks from the cache, %d radio scans"
              % (busy, n_busy, busy_radio))
        print("worst loop stall outside scans: %d ms (target 50 ms)" % stall)
        print("wrong password reported after %.1f s: %r" % (t_wrong, err))
        print("credentials posted -> joined: %.1f s" % t_join)
        print("router back after %.0f s down -> connected: %.1f s (the driver's own retry)"
              % (time.monotonic() - t_down - t_back, t_back))
        print("radio: %d connects, %d scans (%d refused while connecting), %d internal errors"
              % (rad["connects"], rad["scans"], rad["empty_scans"], rad["internal_errors"]))
    finally:
        r.close()


if __name__ == "__main__":
    main()
