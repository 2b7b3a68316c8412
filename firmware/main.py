# Entry point: the boot sequence runs this file. It stays this small because a .py file is
# compiled in RAM at every boot; the wiring is precompiled in startup.py, whose main() catches
# everything. Only a firmware file too damaged to import lands here: log it and reset (after a
# pause, so mpremote can still interrupt), never stay at the REPL.
try:
    import startup
except Exception as e:
    import sys
    import time

    sys.print_exception(e)
    time.sleep(10)
    import board

    board.reset()
startup.main()
