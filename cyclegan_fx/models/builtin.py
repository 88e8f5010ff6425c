"""The built-in models, imported into the store the first time they are needed.

``vintage`` (the default) is the generator file the vintagify package installs (MIT licence).
``vintage-fast`` is a 16-channel student distilled from it by ``examples/make_vintage_fast.sh``; its weights and
the distillation's record ship in this package.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "vintage"  # the default model
FAST = "vintage-fast"
_VINTAGIFY_FILE = Path("resources") / "G_A2B_epoch33.pth"
_WEIGHTS = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Builtin:
    name: str
    source: Callable[[], Path | None]  # the weights file, None where it is not installed
    options: Callable[[], dict[str, Any]]  # keyword arguments of ModelStore.import_checkpoint


def checkpoint_path() -> Path | None:
    """Where vintagify keeps its generator, found without importing the package (it imports pyplot)."""
    spec = importlib.util.find_spec("vintagify")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _VINTAGIFY_FILE
    return path if path.is_file() else None


def _vintage_options() -> dict[str, Any]:
    return {"label": "Modern to Vintage", "direction": "a2b", "training_size": 512, "work_size": 1024,
            "provenance": {"package": "vintagify 0.1.2", "license": "MIT", "trained_on": "512 px crops"}}


def _fast_path() -> Path | None:
    path = _WEIGHTS / f"{FAST}.safetensors"
    return path if path.is_file() else None


def _fast_options() -> dict[str, Any]:
    """The label, sizes and distillation record that examples/make_vintage_fast.sh wrote beside the weights."""
    return json.loads((_WEIGHTS / f"{FAST}.json").read_text())


BUILTINS = {b.name: b for b in (Builtin(NAME, checkpoint_path, _vintage_options), Builtin(FAST, _fast_path, _fast_options))}
