"""What the service does, apart from HTTP: keep runners warm, queue jobs per device, report on them."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from cyclegan_fx import __version__
from cyclegan_fx.errors import CycleganFxError, JobCancelled
from cyclegan_fx.models import ModelStore
from cyclegan_fx.runners.cache import RunnerCache, WarmRunner
from cyclegan_fx.runtime.config import ModelChoice
from cyclegan_fx.serve.config import ServiceConfig
from cyclegan_fx.serve.jobs import Job, JobBook
from cyclegan_fx.serve.protocol import TranslateRequest

log = logging.getLogger("cyclegan_fx")
_WATCH_CLIENT = 0.2  # seconds between checks that the client of a job is still there


class Service:
    """Runners stay loaded between jobs (one per model and direction); jobs run one at a time per device."""

    def __init__(self, config: ServiceConfig, store: ModelStore) -> None:
        from cyclegan_fx.runtime.devices import resolve_device

        self.config = config
        self.store = store
        self.device = resolve_device(config.device)
        self.jobs = JobBook()
        self._runners = RunnerCache(resolve=store.get)  # a store name only: the API never opens a path it was given
        self._queue = ThreadPoolExecutor(1, thread_name_prefix=f"cyclegan-fx-{self.device.type}")
        self._last_activity = time.monotonic()
        self._requests = 0  # being handled now
        self._activity_lock = threading.Lock()

    def translate(self, request: TranslateRequest, pixels: np.ndarray,
                  client_gone: Callable[[], bool] = lambda: False) -> tuple[np.ndarray, Job]:
        """Queue a translation and wait for it; raises the job's error (JobCancelled when cancelled).

        The job is cancelled when ``client_gone`` says the client stopped waiting (GIMP's cancel ends
        the plug-in), so nobody's CPU goes to a result that nobody reads.
        """
        job = self.jobs.open(request.model, request.direction, request.job)
        future = self._queue.submit(self._run, job, request, pixels)
        while not wait([future], timeout=_WATCH_CLIENT).done:
            if client_gone():
                job.cancel_requested.set()
        return future.result(), job

    def _run(self, job: Job, request: TranslateRequest, pixels: np.ndarray) -> np.ndarray:
        try:
            job.check_cancelled()
            job.started, job.state = time.monotonic(), "loading"
            runner = self._runner(request.model, request.direction)
            job.check_cancelled()
            job.state = "running"
            result = runner.run(pixels, request.options(self.config.options), job.report)
        except JobCancelled:
            self.jobs.close(job, "cancelled", "cancelled")
            raise
        except CycleganFxError as exc:
            self.jobs.close(job, "failed", str(exc))
            raise
        except BaseException as exc:
            self.jobs.close(job, "failed", f"internal error ({type(exc).__name__})")
            raise
        self.jobs.close(job, "done")
        log.info("Job %s: %s %s, %dx%d, %.2f s.", job.id, job.model, job.direction, pixels.shape[1],
                 pixels.shape[0], job.finished - job.started)
        return result

    def _runner(self, model: str, direction: str) -> WarmRunner:
        config = self.config
        return self._runners.get(ModelChoice(model, direction, config.device, config.precision, config.backend))

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and job.active:
            job.cancel_requested.set()
        return job

    def models(self) -> list[dict[str, Any]]:
        """Installed models with the menu label of each direction."""
        return [
            {
                "name": m.name,
                "directions": {d: {"label": m.info.menu_label(d)} for d in m.info.directions},
                "work_size": m.info.work_size,
                "training_size": m.info.training_size,
            }
            for m in self.store.list()
        ]

    def status(self) -> dict[str, Any]:
        return {
            "service": "cyclegan-fx",
            "version": __version__,
            "device": str(self.device),
            "precision": self.config.precision,
            "backend": self.config.backend,
            "loaded": [f"{key.model}/{key.direction}" for key in self._runners.loaded()],
            "active_jobs": self.jobs.active_count(),
            "idle_timeout": self.config.idle_timeout,
        }

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around each request: the service is not idle while one is being handled."""
        with self._activity_lock:
            self._requests += 1
        try:
            yield
        finally:
            with self._activity_lock:
                self._requests -= 1
                self._last_activity = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request ended; 0 while a request is handled or a job is queued or running."""
        with self._activity_lock:
            if self._requests or self.jobs.active_count():
                return 0.0
            return time.monotonic() - self._last_activity

    def close(self) -> None:
        for job in self.jobs.all():
            job.cancel_requested.set()
        self._queue.shutdown(wait=False, cancel_futures=True)
