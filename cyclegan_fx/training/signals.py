"""Ctrl-C and SIGTERM during training: finish the iteration, checkpoint, then stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("cyclegan_fx")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """While active, the first stop signal is only recorded; the training loop checks ``received`` once an iteration.

    A second Ctrl-C stops at once, as usual.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in _STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        log.warning("%s received: stopping after this iteration and writing a checkpoint.", signal.Signals(signum).name)
