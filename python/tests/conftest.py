"""Shared setup: faulthandler on (a crash in C prints every thread's Python stack)."""

import faulthandler

faulthandler.enable()
