"""Safe boot on the real firmware under MicroPython: a boot that crashes resets the board (it
never stays at the REPL), three in a row start safe mode (the access point and one page to fix
or reset the settings), and the page's restart brings the fixed gateway back. A damaged
settings file falls back to the last good copy (admin login and WiFi kept) and says so."""
import base64
import os

from harness import Rig, foreign_addresses, wait_for

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}


def _up(r):
    wait_for(lambda: r.get("/status", timeout=1)[0] in (200, 401), 10, what="HTTP")


def test_boot_crash_ends_in_safe_mode_then_a_fixed_restart(rig_factory):
    # the controller's UART cannot be opened (a wrong board.json, a broken port): build() fails
    r = rig_factory(env={"RAPI_TTY": "/nonexistent/evse.tty"})
    for n in (1, 2, 3):
        assert r.wait_exit() == 3, r.log()[-2000:]  # board.reset(), not a traceback at the REPL
        assert "boot failed (%d in a row)" % n in r.log()
        r.start_firmware()
    # the fourth boot is safe mode: the AP and its page, for a phone on it
    code, _, page = wait_for(lambda: r.phone("GET", "/"), 10, what="safe mode page")
    assert code == 200 and "safe mode" in page and "3 times" in page, page
    assert "ENOENT" in page and "open_uart" in page, page  # what failed, and where
    assert r.radio()["ap_active"] and not r.radio()["sta_active"]
    assert not foreign_addresses(page)
    del r.extra_env["RAPI_TTY"]  # fixed; the page also sets the home network on the way
    code, _, page = r.phone("POST", "/wifi", "ssid=HomeNetwork&pass=correct+horse")
    assert code == 200 and "Restarting" in page
    assert r.wait_exit() == 3
    r.start_firmware()
    r.wait_connected()
    d = wait_for(lambda: r.status()["wifi_state"] == "connected" and r.status(), 10, what="join")
    assert d["evse_connected"] == 1 and d["ssid"] == "HomeNetwork"


def test_damaged_settings_fall_back_to_the_last_good_copy(rig_factory):
    r = rig_factory()
    r.wait_connected()
    code, _ = r.post("/config", {"www_username": "admin", "www_password": "s3cret",
                                 "ssid": "HomeNetwork", "pass": "correct horse",
                                 "mqtt_server": "emonpi"})
    assert code == 200
    r.stop_firmware()
    path = os.path.join(r.data, "config.json")
    with open(path, "rb") as f:
        good = f.read()
    i = good.index(b"emonpi")
    with open(path, "wb") as f:  # one bad byte: still valid JSON, caught by the checksum
        f.write(good[:i] + b"E" + good[i + 1:])
    r.start_firmware()
    _up(r)
    assert r.get("/status")[0] == 401  # the admin login survived
    d = r.get("/status", headers=ADMIN)[1]
    assert "damaged" in d["config_error"] and "restored" in d["config_error"]
    cfg = r.get("/config", headers=ADMIN)[1]
    assert cfg["mqtt_server"] == "emonpi" and cfg["ssid"] == "HomeNetwork"
    assert "settings file damaged" in r.log()
    with open(path, "rb") as f:
        assert f.read() == good  # a good file again
    for damage in (good[: len(good) // 2], b""):  # truncated, empty
        r.stop_firmware()
        with open(path, "wb") as f:
            f.write(damage)
        r.start_firmware()
        _up(r)
        d = r.get("/status", headers=ADMIN)[1]
        assert "restored" in d["config_error"] and d["ssid"] in ("HomeNetwork", "")
        assert r.get("/config", headers=ADMIN)[1]["mqtt_server"] == "emonpi"
