"""pytest setup for the Python suite: fatal errors (a crash in the library) dump every
thread's Python traceback instead of dying silently."""

import faulthandler
import sys

faulthandler.enable(file=sys.stderr, all_threads=True)
