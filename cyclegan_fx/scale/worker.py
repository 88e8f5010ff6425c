"""The work one Ray actor does: load the model once, then translate files one by one exactly as ``apply`` does.

Plain Python: the driver turns the class into an actor with ``ray.remote``, and a test can call it directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cyclegan_fx.errors import ConfigError, CycleganFxError, OutputError
from cyclegan_fx.scale.model_files import ModelFiles, unpack_model
from cyclegan_fx.scale.work import Outcome, WorkerSettings, WorkItem, locations

log = logging.getLogger("cyclegan_fx")


class Translator:
    """One per GPU, or per group of CPU threads."""

    def __init__(self, settings: WorkerSettings, model: Callable[[], ModelFiles]) -> None:
        import torch

        from cyclegan_fx.models import resolve_model
        from cyclegan_fx.runners.factory import open_runner

        self.settings = settings
        # One image in the runner at a time (its memory plan assumes so); reading and writing overlap it.
        self.runner_lock = threading.Lock()
        self.runner = None
        self.problem: CycleganFxError | None = None
        if settings.threads:
            torch.set_num_threads(settings.threads)
        try:
            files = model()
        except Exception as exc:  # noqa: BLE001 - reported by ready() and by every item
            self.problem = ConfigError(f"The worker could not get the model from the driver ({type(exc).__name__}).")
            return
        try:
            self.runner = open_runner(resolve_model(unpack_model(files)), settings.direction, settings.device,
                                      settings.precision, settings.backend)
        except CycleganFxError as exc:
            self.problem = exc

    def ready(self) -> CycleganFxError | None:
        """None once the model is loaded, else the error that stopped it."""
        return self.problem

    def translate(self, item: WorkItem) -> Outcome:
        """Translate one file; an output that exists already is complete, so it is skipped, never redone."""
        source, target = locations(self.settings, item)
        started = time.monotonic()
        try:
            if target.exists():
                return Outcome(source.text, target.text, "skipped")
            if self.problem is not None:
                raise self.problem
            self._translate(source, target)
        except CycleganFxError as exc:
            if isinstance(exc, OutputError) and target.exists():
                return Outcome(source.text, target.text, "skipped")  # written meanwhile by an earlier attempt
            return Outcome(source.text, target.text, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a failure must never stop the job, whatever raised it
            return Outcome(source.text, target.text, "failed", _unexpected(source.text, exc))
        return Outcome(source.text, target.text, "written", seconds=time.monotonic() - started)

    def _translate(self, source, target) -> None:
        from cyclegan_fx.io.image_read import load_image
        from cyclegan_fx.scale.storage import local_copy, save

        options = self.settings.options
        with local_copy(source) as path:
            image = load_image(path, options.max_pixels)
        with self.runner_lock:
            result = self.runner.run(image.pixels, options)
        save(target, result, image.meta)


def _unexpected(source: str, exc: Exception) -> str:
    """One sentence for an error that is not a user error: out of memory, or a bug worth a traceback."""
    from cyclegan_fx.runtime.devices import is_out_of_memory

    if isinstance(exc, MemoryError) or is_out_of_memory(exc):
        return f"Cannot translate {source}: out of memory; lower --work-size or --max-memory, or give workers more memory."
    log.exception("Unexpected error translating %s", source)
    detail = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
    return f"Cannot translate {source}: unexpected {type(exc).__name__}{': ' + detail if detail else ''}."
