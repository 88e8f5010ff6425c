"""Jobs of the service: their state and progress, readable while they run."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cyclegan_fx.errors import JobCancelled, RequestError
from cyclegan_fx.runtime.progress import Progress

KEEP_FINISHED = 64  # finished jobs whose state can still be asked for


@dataclass
class Job:
    """One translation; fields are written by the worker and read by progress requests."""

    id: str
    model: str
    direction: str
    state: str = "queued"  # queued, loading, running, done, failed, cancelled
    fraction: float = 0.0
    tiles_done: int = 0
    tiles_total: int = 0
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "loading", "running")

    def report(self, progress: Progress) -> None:
        """The runner's progress callback: records progress, and stops the run once cancelled."""
        self.fraction, self.tiles_done, self.tiles_total = progress.fraction, progress.tiles_done, progress.tiles_total
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if self.cancel_requested.is_set():
            raise JobCancelled(f"Job {self.id} was cancelled.")

    def to_json(self) -> dict[str, Any]:
        ran = (self.finished or time.monotonic()) - self.started if self.started else 0.0
        return {
            "job": self.id, "model": self.model, "direction": self.direction, "state": self.state,
            "fraction": round(self.fraction, 4), "tiles_done": self.tiles_done, "tiles_total": self.tiles_total,
            "error": self.error, "seconds": round(ran, 3),
        }


class JobBook:
    """Every active job and the last finished ones, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()

    def open(self, model: str, direction: str, job_id: str | None) -> Job:
        """A new job; a client-chosen id that names an active job is refused."""
        with self._lock:
            job_id = job_id or uuid.uuid4().hex
            known = self._jobs.get(job_id)
            if known is not None and known.active:
                raise RequestError(f"Job id {job_id!r} is in use by an active job.")
            job = self._jobs[job_id] = Job(job_id, model, direction)
            return job

    def close(self, job: Job, state: str, error: str | None = None) -> None:
        with self._lock:
            job.state, job.error, job.finished = state, error, time.monotonic()
            self._finished.append(job.id)
            while len(self._finished) > KEEP_FINISHED:
                old = self._finished.popleft()
                if old in self._jobs and not self._jobs[old].active:
                    del self._jobs[old]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def active_count(self) -> int:
        with self._lock:
            return sum(j.active for j in self._jobs.values())

