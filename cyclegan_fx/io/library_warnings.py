"""Warnings that libraries raise while reading a user's file go to the debug log, not to the user's terminal."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("cyclegan_fx")

# catch_warnings swaps process-wide state: two threads inside it at once could leave it swapped for good.
_lock = threading.RLock()


@contextlib.contextmanager
def library_warnings_logged(path: Path) -> Iterator[None]:
    """Record what libraries warn about while reading ``path`` and log it at debug level (``-vv``)."""
    with _lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                log.debug("While reading %s: %s", path, warning.message)
