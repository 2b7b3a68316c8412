# rapi/guard.py: the RAPI commands that switch off one of the controller's safety checks. Such
# a command runs only with an explicit confirmation, developer mode or not. Asked only about
# commands that developer mode lets through (gateway.rapi_passthrough imports this for them
# and drops it again), so it costs no heap otherwise. Commands per open_evse rapi_proc.h.

# $FF letters: diode check, GFI self test, ground check, stuck relay check, temperature
# monitoring, vent required, overcurrent (D firmware)
FLAGS = "DFGRTVO"
# the forms $FF replaced (RAPI 4.0.0): 0 switches the check off
LEGACY = ("$SD", "$SF", "$SG", "$SR", "$SS")


def safety_off(cmd):
    """True when cmd may switch a safety check off. Only the exact "on" forms pass without
    confirmation: the controller reads "00", "0x" or a missing value as off too."""
    t = cmd.upper().split()
    if not t:
        return False
    c = t[0]
    a = t[1] if len(t) > 1 else ""
    if c == "$FF":
        return len(a) == 1 and a in FLAGS and cmd.strip().upper() != "$FF %s 1" % a
    if c in LEGACY:
        return cmd.strip().upper() != c + " 1"
    if c == "$SV":  # "vent required off" before D6.0.0, a voltage today
        return a.strip("0") == ""
    if c == "$SO":  # over-temperature thresholds
        return True
    if c == "$SY":  # heartbeat supervision: interval 0 turns it off
        return len(t) > 1 and a.strip("0") == ""
    return False
