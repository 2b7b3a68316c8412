# Builds the /status document: model values plus each service's contribution, with the
# documented neutral values for what this gateway cannot know.
import clock

NEUTRAL = {
    "eth_connected": 0, "ocpp_connected": 0, "ohm_hour": "NotConnected",
    "shaper": 0, "shaper_live_pwr": 0, "shaper_cur": 255, "shaper_updated": False,
    "ota_update": 0, "schedule_version": 1, "schedule_plan_version": 1,
    "colour": 0, "tesla_vehicle_count": False, "tesla_vehicle_id": False,
    "tesla_vehicle_name": False, "total_switches": 0, "vehicle_state_update": 0,
    "emoncms_connected": 0, "packets_sent": 0, "packets_success": 0, "mqtt_connected": 0,
    "total_day": 0, "total_week": 0, "total_month": 0, "total_year": 0,
    "solar": 0, "grid_ie": 0, "charge_rate": 0, "divert_update": 0, "divert_active": False,
    "rfid_failure": 0, "temp4": False, "ipv6address": "", "mqtt_status": "disabled",
    "mqtt_error": "", "emoncms_message": "",
}


def _parts(gw):
    """Each part's dict, in order (later parts win), the clock last."""
    out = []
    for part in gw.status_parts:
        try:
            out.append(part())
        except Exception as e:
            print("status: part failed", repr(e))
    out.append(clock.status())
    return out


def items(gw):
    """The (key, value) pairs of build(gw), without building the ~90-key dict (one ~2 KB
    block, hard to find in a fragmented heap): each key from the last part that has it,
    then NEUTRAL for the keys no part has. Key order differs from build()."""
    ps = _parts(gw)
    n = len(ps)
    for i in range(n):
        p = ps[i]
        for k in p:
            for j in range(i + 1, n):
                if k in ps[j]:
                    break
            else:
                yield k, p[k]
    for k in NEUTRAL:
        for p in ps:
            if k in p:
                break
        else:
            yield k, NEUTRAL[k]


def build(gw):
    d = dict(NEUTRAL)
    for p in _parts(gw):
        d.update(p)
    return d
