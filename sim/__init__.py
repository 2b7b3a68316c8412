"""Virtual OpenEVSE controller (firmware 8.2.3, RAPI 5.2.1) for testing the gateway.

- ``sim.controller``: pure controller model (RAPI parser, states, EEPROM, heartbeat).
- ``sim.ev``: EV model (plug, request charge, current ramp).
- ``sim.server``: pty/TCP link with baud pacing, fault injection, HTTP control API.
Run ``python -m sim --help``.
"""
