"""Loaded models, shared by every hot folder that names the same one, reloaded when their files change."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.models import Model, resolve_model
from cyclegan_fx.models.bundle import MANIFEST
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.watch.config import ModelChoice

log = logging.getLogger("cyclegan_fx")

FileState = tuple[tuple[int, int, int] | None, ...]  # per file: size, mtime_ns, inode (None: missing)


@dataclass
class _Loaded:
    runner: Runner
    files: tuple[Path, ...]
    state: FileState  # of ``files`` just before they were loaded
    refused: FileState | None = None  # a changed state that failed to load; tried again once it changes


class LoadedModels:
    """One runner per distinct model choice. ``runner`` is called from one thread only (the translating one)."""

    def __init__(self) -> None:
        self._loaded: dict[ModelChoice, _Loaded] = {}

    def load(self, choice: ModelChoice) -> None:
        """Load a model at start-up; a model that is missing or cannot run here raises its one-sentence error."""
        if choice not in self._loaded:
            self._loaded[choice] = _open(choice)

    def runner(self, choice: ModelChoice) -> Runner:
        """The runner for ``choice``, reloaded first if its files were replaced since it was loaded."""
        loaded = self._loaded[choice]
        state = _state(loaded.files)
        if state == loaded.state or state == loaded.refused:
            return loaded.runner
        try:
            self._loaded[choice] = _open(choice)
        except Exception as exc:  # a half-copied or broken file: keep translating with the model we have
            loaded.refused = state
            log.error("Model %s changed but cannot be loaded (%s); still using the one loaded before.",
                      choice.model, exc)
            return loaded.runner
        log.info("Model %s changed on disk; loaded the new one.", choice.model)
        return self._loaded[choice].runner


def _open(choice: ModelChoice) -> _Loaded:
    model = resolve_model(choice.model)
    files = model_files(model, choice.direction)
    state = _state(files)  # taken before loading: a change during the load is seen at the next image
    runner = open_runner(model, choice.direction, choice.device, choice.precision, choice.backend)
    return _Loaded(runner, files, state)


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
