"""When a file has finished arriving: its size and times unchanged for --settle seconds, and it can be opened."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

# An empty file is often one a copy has created but not yet written: it must stay empty this many times longer.
EMPTY_FILE_PATIENCE = 5

Signature = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


@dataclass
class _Waiting:
    signature: Signature | None  # None: not looked at yet
    since: float  # monotonic time at which this signature was first seen


class SettleTracker:
    """Files seen in an inbox, each waiting to settle, then ready to be claimed oldest first."""

    def __init__(self, settle: float, trust_ctime: bool) -> None:
        """``trust_ctime``: a file whose inode changed longer than ``settle`` ago is settled at first sight.
        Only on local file systems: a network server's clock may differ from ours."""
        self.settle = settle
        self.trust_ctime = trust_ctime
        self._waiting: dict[Path, _Waiting] = {}
        self._ready: dict[Path, Signature] = {}

    def __len__(self) -> int:
        return len(self._waiting) + len(self._ready)

    def add(self, path: Path) -> None:
        """A file that may be new or may have changed (an event, or a scan found it)."""
        if path not in self._ready and path not in self._waiting:
            self._waiting[path] = _Waiting(None, 0.0)

    def update(self, now: float) -> None:
        """Look again at the files whose settle time is up; move the settled ones to the ready list."""
        settled = []
        for path, waiting in list(self._waiting.items()):
            if waiting.signature is not None and now - waiting.since < self._patience(waiting.signature):
                continue
            current = signature(path)
            if current is None:
                del self._waiting[path]
            elif current != waiting.signature and not self._old(current) or not _openable(path):
                self._waiting[path] = _Waiting(current, now)
            else:
                del self._waiting[path]
                settled.append((current, path))
        for current, path in sorted(settled, key=lambda item: item[0][1]):
            self._ready[path] = current

    def next_ready(self, now: float) -> Path | None:
        """The oldest settled file that is still as it was when it settled (a changed one waits again)."""
        while self._ready:
            path = next(iter(self._ready))
            settled = self._ready.pop(path)
            current = signature(path)
            if current == settled:
                return path
            if current is not None:
                self._waiting[path] = _Waiting(current, now)
        return None

    def _patience(self, sig: Signature) -> float:
        return self.settle * (EMPTY_FILE_PATIENCE if sig[0] == 0 else 1)

    def _old(self, sig: Signature) -> bool:
        return self.trust_ctime and sig[0] > 0 and time.time() - sig[2] / 1e9 >= self.settle


def signature(path: Path) -> Signature | None:
    """Size, modification and change times and inode of a regular file; None for anything else or nothing."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _openable(path: Path) -> bool:
    """False while a writer holds the file so that it cannot be opened (SMB share modes); a file this user
    may not read counts as openable, to fail with that reason instead of waiting for ever."""
    try:
        with open(path, "rb"):
            return True
    except PermissionError:
        return True
    except OSError:
        return False
