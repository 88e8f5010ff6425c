"""What the driver sends to the workers and what comes back: small, picklable records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.scale.storage import Location

Status = Literal["written", "skipped", "failed"]


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs besides the model: fixed for the whole job."""

    folders: tuple[Location, ...]  # each source folder (a file source: its parent)
    destination: Location
    direction: str
    device: str
    precision: str
    backend: str
    options: RunOptions
    threads: int | None  # the runner's CPU threads; None: Ray's default for the worker


@dataclass(frozen=True)
class WorkItem:
    """One input file: ``name`` ('/'-separated) below source folder ``folder``; its output has the same name."""

    folder: int
    name: str


@dataclass(frozen=True)
class Outcome:
    source: str
    output: str
    status: Status
    reason: str = ""  # one sentence, for a failure
    seconds: float = 0.0


def locations(settings: WorkerSettings, item: WorkItem) -> tuple[Location, Location]:
    """The input file and the output file of ``item``."""
    return settings.folders[item.folder].child(item.name), settings.destination.child(item.name)
