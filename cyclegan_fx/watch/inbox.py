"""Noticing files in an inbox: watchdog's events as hints, and full scans because events can be lost."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path, PurePosixPath

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from cyclegan_fx.watch.config import FolderConfig
from cyclegan_fx.watch.names import InputRules, is_temporary

log = logging.getLogger("cyclegan_fx")

FALLBACK_POLL = 5.0  # seconds, when the OS refuses more watches (inotify's per-user limit)


class _Hints(FileSystemEventHandler):
    """Collects the paths events name; the main loop takes them. Runs on watchdog's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._folder_arrived = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        with self._lock:
            if event.is_directory:
                # A folder moved in brings files that may produce no events of their own.
                self._folder_arrived |= event.event_type in ("created", "moved")
            else:
                self._paths.add(os.fsdecode(event.dest_path or event.src_path))

    def take(self) -> tuple[set[str], bool]:
        with self._lock:
            paths, self._paths = self._paths, set()
            arrived, self._folder_arrived = self._folder_arrived, False
        return paths, arrived


class InboxWatcher:
    """The files of one inbox that may be inputs: from events between scans, and from scans."""

    def __init__(self, config: FolderConfig, poll: float | None) -> None:
        self.inbox = config.inbox
        self.recursive = config.recursive
        self.poll = poll
        self.rules = InputRules(config.include, config.exclude)
        self._owned = tuple(os.path.abspath(d) for d in config.owned_dirs())
        self._hints = _Hints()
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """Start receiving events (the native observer, or polling with ``poll``)."""
        try:
            self._observer = self._observe(self.poll)
        except OSError as exc:
            log.warning("Cannot watch %s for events (%s); polling it every %g s instead.",
                        self.inbox, exc, FALLBACK_POLL)
            self._observer = self._observe(self.poll or FALLBACK_POLL)

    def _observe(self, poll: float | None) -> BaseObserver:
        observer = PollingObserver(timeout=poll) if poll else Observer()
        observer.schedule(self._hints, str(self.inbox), recursive=self.recursive)
        observer.start()
        return observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None

    def hinted(self) -> tuple[list[Path], bool]:
        """Input files named by events since the last call, and whether a folder arrived (scan again)."""
        paths, arrived = self._hints.take()
        return [Path(p) for p in sorted(paths) if self.accepts(Path(p))], arrived

    def scan(self) -> list[Path]:
        """Every input file in the inbox now (in its subfolders too with --recursive)."""
        found: list[Path] = []
        try:
            for folder, subfolders, files in os.walk(self.inbox, onerror=_ignore):
                subfolders[:] = [] if not self.recursive else sorted(
                    d for d in subfolders if not is_temporary(d) and not self._is_owned(os.path.join(folder, d))
                )
                found += [Path(folder, name) for name in sorted(files) if self.accepts(Path(folder, name))]
        except OSError as exc:  # the inbox vanished during the scan: the main loop notices
            log.debug("Scan of %s stopped: %s", self.inbox, exc)
        return found

    def accepts(self, path: Path) -> bool:
        """A file directly in the inbox (or below it with --recursive), outside the daemon's own folders."""
        try:
            relative = PurePosixPath(path.relative_to(self.inbox).as_posix())
        except ValueError:
            return False
        if len(relative.parts) > 1 and not self.recursive or self._is_owned(str(path)):
            return False
        return self.rules.accepts(relative)

    def _is_owned(self, path: str) -> bool:
        return any(path == d or path.startswith(d + os.sep) for d in self._owned)


def _ignore(error: OSError) -> None:
    """os.walk's error hook: an unreadable subfolder is skipped, not fatal."""
    log.debug("Cannot scan %s: %s", error.filename, error.strerror)
