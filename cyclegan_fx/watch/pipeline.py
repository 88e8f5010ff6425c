"""Three threads joined by bounded queues: the next image is decoded and the last one written while this
one is translated, so the accelerator never waits for the disk."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from cyclegan_fx.errors import CycleganFxError
from cyclegan_fx.io.image_format import ImageMeta
from cyclegan_fx.runners.cache import RunnerCache
from cyclegan_fx.runners.translate_file import about_the_input, read_image, write_image
from cyclegan_fx.runtime.devices import is_out_of_memory
from cyclegan_fx.watch.claims import Claim, Claims
from cyclegan_fx.watch.config import FolderConfig

log = logging.getLogger("cyclegan_fx")


class Destination(Protocol):
    """The hot folder a job came from: it settles each job's fate."""

    config: FolderConfig
    claims: Claims

    def complete(self, job: Job) -> None: ...
    def reject(self, job: Job) -> None: ...
    def set_aside(self, job: Job, problem: BaseException) -> None: ...
    def put_back(self, job: Job) -> None: ...


@dataclass
class Job:
    folder: Destination
    claim: Claim
    pixels: np.ndarray | None = None
    meta: ImageMeta | None = None
    size: tuple[int, int] = (0, 0)  # width, height
    result: np.ndarray | None = None
    written: bool = False  # the output existed already: a re-taken claim whose owner stopped after writing it
    reason: str | None = None  # the input is bad: why, in one sentence
    trouble: BaseException | None = None  # not the input's fault (its file vanished with the inbox, the runner failed)
    seconds: float = 0.0  # time spent on it in the stages, waiting excluded


class Pipeline:
    def __init__(self, runners: RunnerCache, capacity: int, wake: threading.Event) -> None:
        """``capacity``: claimed jobs in the pipeline at once; ``wake`` is set whenever one leaves it."""
        self.runners = runners
        self.capacity = capacity
        self.wake = wake
        self._decode_queue: queue.Queue[Job | None] = queue.Queue(maxsize=capacity)
        self._translate_queue: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self._write_queue: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._count = 0
        self._lock = threading.Lock()
        stages = [
            ("decode", self._decode_queue, self._decode, self._translate_queue),
            ("translate", self._translate_queue, self._translate, self._write_queue),
            ("write", self._write_queue, self._write, None),
        ]
        self._threads = [
            threading.Thread(target=self._stage, args=(source, work, target), name=f"watch-{name}", daemon=True)
            for name, source, work, target in stages
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def room(self) -> int:
        with self._lock:
            return self.capacity - self._count

    def idle(self) -> bool:
        return self.room() == self.capacity

    def submit(self, job: Job) -> None:
        with self._lock:
            self._count += 1
        self._decode_queue.put_nowait(job)  # never blocks: at most ``capacity`` jobs exist

    def close(self, put_back: bool) -> None:
        """No more jobs. With ``put_back``, jobs not yet started go back to their inbox; the image being
        translated is finished and written either way."""
        if put_back:
            self._stopping.set()
        self._decode_queue.put(None)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the threads to finish; whether they have."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _stage(self, source: queue.Queue, work: Callable[[Job], None], target: queue.Queue | None) -> None:
        while (job := source.get()) is not None:
            if target is not None and self._stopping.is_set():
                self._leave(job, job.folder.put_back)
                continue
            started = time.monotonic()
            work(job)
            job.seconds += time.monotonic() - started
            if target is None:
                self._leave(job, None)
            else:
                target.put(job)
        if target is not None:
            target.put(None)

    def _leave(self, job: Job, action: Callable[[Job], None] | None) -> None:
        try:
            if action is not None:
                action(job)
        finally:
            with self._lock:
                self._count -= 1
            self.wake.set()

    # --- the stages ---------------------------------------------------------------------------------

    def _decode(self, job: Job) -> None:
        claims = job.folder.claims
        if job.claim.reason is not None:  # a re-taken claim already known to be bad
            job.reason = job.claim.reason
            return
        if claims.output_written(job.claim):
            job.written = True
            return
        held = claims.held_path(job.claim)
        try:
            image = read_image(held, job.folder.config.options)
        except Exception as exc:  # decoders raise many types for bad data; the reader types the usual ones
            self._blame(job, exc, held)
            return
        job.pixels, job.meta = image.pixels, image.meta
        job.size = (image.pixels.shape[1], image.pixels.shape[0])

    def _translate(self, job: Job) -> None:
        if job.pixels is None:
            return
        config = job.folder.config
        try:
            runner = self.runners.get(config.model)
            job.result = runner.run(job.pixels, config.options)
        except Exception as exc:
            if about_the_input(exc):
                self._blame(job, exc, job.folder.claims.held_path(job.claim))
            else:  # the device, the model or a bug: the image may well pass when tried again
                log.debug("Runner failure on %s", job.claim.source, exc_info=exc)
                job.trouble = exc
        finally:
            job.pixels = None

    def _write(self, job: Job) -> None:
        folder = job.folder
        try:
            if job.trouble is not None:
                folder.set_aside(job, job.trouble)
            elif job.reason is not None:
                folder.reject(job)
            else:
                if not job.written:
                    write_image(folder.claims.output_path(job.claim), job.result, job.meta, overwrite=False)
                folder.complete(job)
        except Exception as exc:  # a folder not writable, a full disk: not the input's fault
            folder.set_aside(job, exc)
        finally:
            job.result = None

    @staticmethod
    def _blame(job: Job, exc: Exception, held: Path) -> None:
        """Decide whether a failure is the input's (it goes to failed/) or the surroundings' (it is retried)."""
        if not held.exists():
            job.trouble = exc
        elif isinstance(exc, CycleganFxError):
            job.reason = str(exc).replace(str(held), str(job.claim.source))
        elif isinstance(exc, MemoryError) or is_out_of_memory(exc):
            job.reason = f"There is not enough memory to translate {job.claim.source}."
        else:
            log.debug("Unexpected error on %s", job.claim.source, exc_info=exc)
            job.reason = f"Unexpected error on {job.claim.source}: {exc}."
