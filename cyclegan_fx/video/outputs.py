"""Where a job's output goes: the default name beside the input, the checks made before any work, and where
the output and the work folder are written."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.errors import OutputError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.io.folders import writable_folder
from cyclegan_fx.video.work import WorkFolder, work_folder_for


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


class Place:
    """Where a video file job keeps its work and writes its output: by default the output file itself, and its
    work folder beside it. ``video --ray`` gives others (elsewhere, or on an object store)."""

    def describe(self, path: Path) -> str:
        """The input or output file, for messages."""
        return str(path)

    def check(self, output: Path, overwrite: bool) -> None:
        """Refuse, before any work, an output that exists (without ``overwrite``) or cannot be written."""
        check_target(output, overwrite)

    def work_folder(self, output: Path) -> WorkFolder:
        """The job's work folder, not prepared yet."""
        return WorkFolder(work_folder_for(output))

    def deliver(self, output: Path, overwrite: bool) -> AbstractContextManager[Path]:
        """A local file to write the output to; it becomes the output once complete."""
        return atomic_output(output, overwrite)
