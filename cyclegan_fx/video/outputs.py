"""Where a job's output goes: the default name beside the input, and the checks made before any work."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.errors import OutputError
from cyclegan_fx.io.folders import writable_folder


@dataclass(frozen=True)
class ModelRef:
    """The model of a job: its name and direction name outputs; ``identity`` tells runs apart for --resume."""

    name: str
    direction: str
    identity: str

    @property
    def tag(self) -> str:
        return f"{self.name}-{self.direction}".replace(os.sep, "_")


def default_output(source: Path, model: ModelRef, suffix: str | None = None) -> Path:
    """``STEM-MODEL-DIRECTION.EXT`` beside the input (a folder of frames: ``NAME-MODEL-DIRECTION``)."""
    suffix = source.suffix if suffix is None else suffix
    return source.with_name(f"{source.stem if suffix else source.name}-{model.tag}{suffix}")


def check_target(output: Path, overwrite: bool) -> None:
    """Refuse an existing output (without ``overwrite``) and a folder that cannot be written, before any work."""
    if output.exists() and not overwrite:
        raise OutputError(f"{output} exists already; pass --overwrite to replace it.")
    writable_folder(output.parent)
