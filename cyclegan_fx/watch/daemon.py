"""The watch daemon's main loop: hot folders feed claimed files to one pipeline until a stop is asked for."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

from cyclegan_fx.runners.cache import RunnerCache
from cyclegan_fx.watch.config import WatchConfig
from cyclegan_fx.watch.folder import HotFolder
from cyclegan_fx.watch.logs import fields
from cyclegan_fx.watch.owner import Owner
from cyclegan_fx.watch.pipeline import Pipeline

log = logging.getLogger("cyclegan_fx")

TICK = 0.2  # seconds between looks at the inboxes when nothing wakes the loop earlier


@dataclass(frozen=True)
class Summary:
    done: int
    failed: int
    errors: int  # files set aside because of their surroundings (a folder not writable, a full disk)
    unfinished: int  # claims left for the next start by a forced stop
    seconds: float
    forced: bool  # a second stop signal: the image being translated was not waited for

    @property
    def per_minute(self) -> float:
        return 60.0 * (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0


class StopSignals:
    """SIGTERM or Ctrl-C: the first asks for a clean stop, a second one for a stop without waiting."""

    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake
        self.count = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            log.info("%s received: finishing the image in hand, then stopping (again to stop at once).", name)
        self.wake.set()


def run(config: WatchConfig) -> Summary:
    """Watch every folder of ``config`` until stopped (or, with ``once``, until what was there is done)."""
    started = time.monotonic()
    owner = Owner.current()
    folders = [HotFolder(folder, config, owner) for folder in config.folders]
    for folder in folders:
        folder.check()
    runners = RunnerCache()
    for folder in folders:  # a model that is missing or cannot run here stops the start in one sentence
        runners.get(folder.config.model)
    wake = threading.Event()
    pipeline = Pipeline(runners, config.max_in_flight, wake)
    with StopSignals(wake) as stop:
        pipeline.start()
        for folder in folders:
            folder.start(observe=not config.once)
        _loop(folders, pipeline, config, stop, wake)
        pipeline.close(put_back=stop.count > 0)
        forced = not _wait_for(pipeline, stop)
        for folder in folders:
            folder.stop()
    summary = Summary(
        done=sum(f.stats.done for f in folders),
        failed=sum(f.stats.failed for f in folders),
        errors=sum(f.stats.errors for f in folders),
        unfinished=sum(len(f.in_flight) for f in folders),
        seconds=time.monotonic() - started,
        forced=forced,
    )
    log.info("%s after %.1f s: %d done, %d failed (%.1f images per minute)%s.",
             "Finished" if config.once and not stop.count else "Stopped", summary.seconds, summary.done,
             summary.failed, summary.per_minute,
             f"; {summary.unfinished} left claimed for the next start" if summary.unfinished else "",
             extra=fields(event="stop", done=summary.done, failed=summary.failed, unfinished=summary.unfinished,
                          seconds=round(summary.seconds, 3), forced=forced))
    return summary


def _loop(folders: list[HotFolder], pipeline: Pipeline, config: WatchConfig, stop: StopSignals,
          wake: threading.Event) -> None:
    while not stop.count:
        now = time.monotonic()
        for folder in folders:
            folder.tick(now)
        _feed(folders, pipeline, now)
        if config.once and pipeline.idle() and all(f.idle() for f in folders):
            return
        wake.wait(TICK)
        wake.clear()


def _feed(folders: list[HotFolder], pipeline: Pipeline, now: float) -> None:
    """Claim files while the pipeline has room, taking turns between folders."""
    while pipeline.room() > 0:
        jobs = 0
        for folder in folders:
            if pipeline.room() > 0 and (job := folder.next_job(now)) is not None:
                pipeline.submit(job)
                jobs += 1
        if not jobs:
            return


def _wait_for(pipeline: Pipeline, stop: StopSignals) -> bool:
    """Wait for the pipeline to finish; False if a second stop signal cut the wait short."""
    while not pipeline.join(TICK):
        if stop.count > 1:
            log.warning("Stopping now; the image in hand stays claimed and is taken up again at the next start.")
            return False
    return True
