"""Stopping cleanly on SIGINT and SIGTERM: the first signal is remembered (the trainer finishes its step,
saves a checkpoint and stops), a second one aborts at once. The handlers are installed for the duration
of a ``with`` block and the previous ones put back afterwards."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class SignalGuard:
    """``with SignalGuard() as guard: ... if guard.received: stop``. Outside the main thread (where Python
    cannot install handlers) it installs nothing and ``received`` stays 0."""

    def __init__(self, say: Callable[[str], None] = _stderr) -> None:
        self.say = say
        self.received = 0  # the number of the first signal received, 0 while none
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received:  # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.received = signum
        self.say(f"\n{signal.Signals(signum).name} received: finishing this step, saving a checkpoint (again to abort)")

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous = {}
