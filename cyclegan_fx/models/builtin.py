"""The default model, ``vintage``: the generator file the vintagify package installs (MIT licence)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

NAME = "vintage"
IMPORT_OPTIONS = {
    "label": "Modern to Vintage",
    "direction": "a2b",
    "training_size": 512,
    "work_size": 1024,
    "provenance": {"package": "vintagify 0.1.2", "license": "MIT", "trained_on": "512 px crops"},
}
_FILE = Path("resources") / "G_A2B_epoch33.pth"


def checkpoint_path() -> Path | None:
    """Where vintagify keeps its generator, found without importing the package (it imports pyplot)."""
    spec = importlib.util.find_spec("vintagify")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _FILE
    return path if path.is_file() else None
