"""Stopping a long-running process promptly on SIGINT or SIGTERM, whatever it is doing.

Python runs a signal handler only in the main thread, between bytecodes: a main thread blocked in
`threading.Event.wait()` without a timeout never runs it when the signal was delivered to one of
the server's threads. So the handler raises `Stopped` in the main thread - which unwinds start-up
as well as serving, and each `finally` stops what was started - and the main thread waits in
short sleeps (`wait_while`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. A KeyboardInterrupt, so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_signals() -> None:
    """From now on the first SIGINT or SIGTERM raises `Stopped`; later ones are ignored, so that
    the cleanup it starts runs to the end. Call before starting anything."""

    def handler(signum: int, _frame) -> None:
        ignore_signals()
        raise Stopped(signum)

    for sig in SIGNALS:
        signal.signal(sig, handler)


def ignore_signals() -> None:
    """For the cleanup: a signal arriving now must not interrupt stopping what was started."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def wait_while(running: Callable[[], bool] = lambda: True, poll_s: float = 0.2) -> None:
    """Block the main thread until `running()` is false or a signal raises `Stopped`, waking up
    every `poll_s` seconds so the handler runs whichever thread the signal was delivered to."""
    while running():
        time.sleep(poll_s)
