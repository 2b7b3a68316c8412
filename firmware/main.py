# Entry point: the boot sequence runs this file. It stays this small because a .py file is
# compiled in RAM at every boot; the wiring is precompiled in startup.py.
import startup

startup.main()
