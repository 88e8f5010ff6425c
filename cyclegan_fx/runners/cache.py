"""Warm runners shared by every job that names the same model, opened again when the model's files change."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cyclegan_fx.models import Model, resolve_model
from cyclegan_fx.models.bundle import MANIFEST
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import ModelChoice, RunOptions
from cyclegan_fx.runtime.progress import ProgressCallback
from cyclegan_fx.runtime.runner import OWN, Runner
from cyclegan_fx.runtime.statistics import StatsSource

log = logging.getLogger("cyclegan_fx")

FileState = tuple[tuple[int, int, int] | None, ...]  # per file: size, mtime_ns, inode (None: missing)
Opener = Callable[[Model, str, str, str, str], Runner]  # open_runner's (model, direction, device, precision, backend)


@dataclass(frozen=True, eq=False)
class WarmRunner:
    """A cached runner with the model files it was opened from."""

    key: ModelChoice
    runner: Runner
    files: tuple[Path, ...]  # whose replacement means a new model
    state: FileState  # of ``files``, taken just before the runner was opened
    # One image at a time: Runner itself is thread-safe, but its memory plan assumes it has the device alone.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, pixels: np.ndarray, options: RunOptions, progress: ProgressCallback | None = None,
            statistics: StatsSource = OWN) -> np.ndarray:
        """``Runner.run``, waiting for any other thread's image on this runner to finish first."""
        with self.lock:
            return self.runner.run(pixels, options, progress, statistics)


class RunnerCache:
    """One warm runner per ModelChoice, safe to share between threads.

    Every ``get`` compares the model's files with what was loaded (a ``stat`` each) and opens the model again
    when they changed. A changed model that cannot be opened (a half-copied file) leaves the runner opened
    before in use; it is tried again once the files change again.
    """

    def __init__(self, resolve: Callable[[str], Model] = resolve_model, open: Opener = open_runner) -> None:
        self._resolve = resolve
        self._open = open
        self._warm: dict[ModelChoice, WarmRunner] = {}
        self._refused: dict[ModelChoice, FileState] = {}
        self._opening: dict[ModelChoice, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the three dicts, never held while a model opens

    def get(self, key: ModelChoice) -> WarmRunner:
        """The runner for ``key``, opened on first use or when its files changed; raises the first open's error."""
        with self._opening_lock(key):  # one thread opens a model; others asking for it wait for that runner
            with self._lock:
                warm, refused = self._warm.get(key), self._refused.get(key)
            now = _state(warm.files) if warm is not None else None
            if warm is not None and now in (warm.state, refused):
                return warm
            try:
                fresh = self._load(key)
            except Exception as exc:
                if warm is None:
                    raise
                with self._lock:
                    self._refused[key] = now
                log.error("Model %s changed but cannot be loaded (%s); still using the one loaded before.",
                          key.model, exc)
                return warm
            with self._lock:
                self._warm[key] = fresh
                self._refused.pop(key, None)
            if warm is not None:
                log.info("Model %s changed on disk; loaded the new one.", key.model)
            return fresh

    def loaded(self) -> list[ModelChoice]:
        """The keys of the runners loaded now, in the order they were first loaded."""
        with self._lock:
            return list(self._warm)

    def _opening_lock(self, key: ModelChoice) -> threading.Lock:
        with self._lock:
            return self._opening.setdefault(key, threading.Lock())

    def _load(self, key: ModelChoice) -> WarmRunner:
        started = time.monotonic()
        model = self._resolve(key.model)
        files = model_files(model, key.direction)
        state = _state(files)  # taken before opening: a change during the load is seen at the next get
        runner = self._open(model, key.direction, key.device, key.precision, key.backend)
        log.info("Loaded %s (%s) in %.1f s.", key.model, key.direction, time.monotonic() - started)
        return WarmRunner(key, runner, files, state)


def model_files(model: Model, direction: str) -> tuple[Path, ...]:
    """The files whose replacement means a new model: the file itself, or a bundle's manifest and weights."""
    if model.path.is_file():
        return (model.path,)
    return (model.path / MANIFEST, model.path / model.direction(direction).weights)


def _state(files: tuple[Path, ...]) -> FileState:
    states = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            states.append(None)
            continue
        states.append((info.st_size, info.st_mtime_ns, info.st_ino))
    return tuple(states)
