"""Counts of a hot folder, the status file monitoring reads (also each daemon's heartbeat), and who is alive."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from cyclegan_fx.watch.files import write_record
from cyclegan_fx.watch.owner import Owner, process_alive

STATUS = "status"
RATE_WINDOW = 300.0  # seconds over which images per minute are counted


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class FolderStats:
    """What happened in one hot folder; the pipeline's threads add to it, the main loop reads it."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.errors = 0
        self.last_error: dict[str, str] | None = None
        self._finished: deque[float] = deque()
        self._lock = threading.Lock()

    def finished(self) -> None:
        with self._lock:
            self.done += 1
            self._finished.append(time.monotonic())

    def failed_file(self, name: str, reason: str) -> None:
        with self._lock:
            self.failed += 1
            self._finished.append(time.monotonic())
            self.last_error = {"time": now_iso(), "file": name, "message": reason}

    def error(self, name: str, message: str) -> None:
        """A problem that was not the file's fault (a folder not writable, a full disk)."""
        with self._lock:
            self.errors += 1
            self.last_error = {"time": now_iso(), "file": name, "message": message}

    def images_per_minute(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._finished and now - self._finished[0] > RATE_WINDOW:
                self._finished.popleft()
            count = len(self._finished)
        span = min(RATE_WINDOW, now - self.started)
        return 60.0 * count / span if span > 0 else 0.0


class Heartbeats:
    """Each daemon's status file in a hot folder's work folder, and from it whether a claim's owner still runs.

    On this machine the owner's pid tells. Elsewhere its status file does: rewritten every few seconds,
    it is stale once it is ``stale_after`` seconds older than ours (both times from the same file server).
    """

    def __init__(self, work_dir: Path, me: Owner, stale_after: float) -> None:
        self.folder = work_dir / STATUS
        self.me = me
        self.stale_after = stale_after

    def path(self, owner: Owner) -> Path:
        return self.folder / f"{owner.id}.json"

    def beat(self, status: dict[str, Any]) -> None:
        write_record(self.path(self.me), status)

    def alive(self, owner: Owner) -> bool:
        if owner == self.me:
            return True
        if self.me.shares_pids_with(owner):
            return process_alive(owner)
        try:
            theirs = self.path(owner).stat().st_mtime
        except FileNotFoundError:
            return False
        try:
            mine = self.path(self.me).stat().st_mtime
        except FileNotFoundError:
            return True  # cannot compare yet
        return mine - theirs < self.stale_after

    def sweep(self) -> None:
        """Remove the status files (and half-written copies) of daemons that are gone."""
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            owner = Owner.parse(entry.name.lstrip("."))
            if owner is None or not self.alive(owner):
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
