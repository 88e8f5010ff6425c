"""A batch job: every image below the sources translated into the destination on a Ray cluster.

Resumable: an output that exists is complete (only complete files get their final name), so a job run
again after being killed skips what was done and translates the rest. Failures never stop the job: each
one is a line of the failures report and a count in the summary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cyclegan_fx.errors import ConfigError, OutputError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.scale.cluster import (
    NEEDS_RAY,
    Placement,
    feed,
    lost_file,
    plan_placement,
    ray_runtime,
    start_workers,
)
from cyclegan_fx.scale.report import FailureReport, Summary
from cyclegan_fx.scale.storage import Location, locate, prepare_destination, walk
from cyclegan_fx.scale.work import Outcome, WorkerSettings, WorkItem

log = logging.getLogger("cyclegan_fx")

DEFAULT_FAILURES = Path("cyclegan-fx-failures.jsonl")


@dataclass(frozen=True)
class BatchJob:
    sources: tuple[str, ...]  # folders, files, or URIs of either
    destination: str  # a folder or a URI of one
    recursive: bool = False
    model: str = "vintage"
    direction: str = "a2b"
    device: str = "auto"
    precision: str = "auto"
    backend: str = "auto"
    options: RunOptions = field(default_factory=RunOptions)
    address: str | None = None  # a Ray cluster to join; None: a local runtime for this job
    actors: int | None = None  # None: one per GPU, else one per ``threads`` CPUs
    threads: int | None = None  # CPUs per actor; None: 1 with a GPU, else up to 4
    failures: Path = DEFAULT_FAILURES


@dataclass
class _Sources:
    """The sources resolved: distinct folders, and per source its folder and file name (None: walk it)."""

    folders: list[Location] = field(default_factory=list)
    entries: list[tuple[int, str | None]] = field(default_factory=list)
    problems: list[Outcome] = field(default_factory=list)

    def folder_index(self, folder: Location) -> int:
        for index, known in enumerate(self.folders):
            if known.path == folder.path and known.fs is folder.fs:
                return index
        self.folders.append(folder)
        return len(self.folders) - 1


def run_job(
    job: BatchJob,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    on_total: Callable[[int], None] = lambda total: None,
) -> Summary:
    """Run ``job`` to the end; ``on_total`` gets the number of inputs once a background count knows it."""
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.scale.model_files import pack_model

    require_extra("ray", NEEDS_RAY)
    sources = _resolve_sources(job.sources)
    destination = locate(job.destination)
    _check_destination(destination, sources, job.recursive)
    prepare_destination(destination)
    model = resolve_model(job.model)
    model.direction(job.direction)  # a missing direction is one sentence here, not one per worker
    files = pack_model(model, job.direction)
    summary = Summary()
    with FailureReport(job.failures) as report:

        def record(outcome: Outcome) -> None:
            summary.count(outcome)
            if outcome.status == "failed":
                report.add(outcome.source, outcome.reason)
            on_outcome(outcome)

        for problem in sources.problems:
            record(problem)
        with ray_runtime(job.address):
            placement = plan_placement(job.device, job.actors, job.threads)
            settings = _worker_settings(job, sources, destination, placement)
            log.info("Starting %d worker(s) with %g CPU(s)%s each...", placement.actors, placement.cpus,
                     " and a GPU" if placement.gpus else "")
            started = time.monotonic()
            workers = start_workers(placement, settings, files)
            log.info("Workers ready in %.1f s.", time.monotonic() - started)
            started = time.monotonic()
            try:
                _count_in_background(sources, job.recursive, on_total)
                items = _items(sources, job.recursive, lambda path, reason: record(Outcome(path, "", "failed", reason)))
                for outcome in feed(workers, items, lost_file(settings)):
                    record(outcome)
            finally:
                summary.seconds = time.monotonic() - started
                workers.stop()
    return summary


def _resolve_sources(texts: tuple[str, ...]) -> _Sources:
    sources = _Sources()
    names: dict[str, str] = {}
    for text in texts:
        location = locate(text)
        kind = location.kind()
        if kind == "folder":
            sources.entries.append((sources.folder_index(location), None))
        elif kind == "file":
            if location.name in names:
                raise OutputError(f"{names[location.name]} and {text} would be written to the same output name; "
                                  "give them separate jobs.")
            names[location.name] = text
            sources.entries.append((sources.folder_index(location.parent()), location.name))
        else:
            sources.problems.append(Outcome(text, "", "failed", f"{text}: no such file or folder."))
    if not sources.entries:
        missing = ", ".join(problem.source for problem in sources.problems)
        raise OutputError(f"No such file or folder: {missing}." if missing else "No input images to translate.")
    return sources


def _check_destination(destination: Location, sources: _Sources, recursive: bool) -> None:
    """Outputs must never land where they would be taken for inputs or for finished work."""
    for index, name in sources.entries:
        folder = sources.folders[index]
        inside = folder.contains(destination)
        if inside and (destination.contains(folder) or recursive and name is None):
            raise ConfigError(f"The destination {destination.text} lies in the source {folder.text}; "
                              "choose a destination outside it.")


def _items(sources: _Sources, recursive: bool, problem: Callable[[str, str], None]) -> Iterator[WorkItem]:
    for index, name in sources.entries:
        if name is not None:
            yield WorkItem(index, name)
        else:
            for found in walk(sources.folders[index], recursive, problem):
                yield WorkItem(index, found)


def _count_in_background(sources: _Sources, recursive: bool, on_total: Callable[[int], None]) -> None:
    """Count the inputs with a second, lazy listing, so progress gets a total and an ETA without holding a list."""

    def count() -> None:
        try:
            on_total(sum(1 for _ in _items(sources, recursive, lambda path, reason: None)))
        except Exception as exc:  # noqa: BLE001 - only the ETA is lost
            log.debug("Counting the inputs failed: %s", exc)

    threading.Thread(target=count, name="count-inputs", daemon=True).start()


def _worker_settings(job: BatchJob, sources: _Sources, destination: Location, placement: Placement) -> WorkerSettings:
    # ``auto`` made explicit: a CPU worker on a GPU node must not take a GPU that Ray did not give it.
    device = job.device if job.device != "auto" else "cuda" if placement.gpus else "cpu"
    threads = None if placement.gpus else int(placement.cpus)
    return WorkerSettings(tuple(sources.folders), destination, job.direction, device, job.precision, job.backend,
                          job.options, threads)
