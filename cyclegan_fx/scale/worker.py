"""The work one Ray actor does: load the model once, then translate files with the steps ``apply`` uses.

Plain Python: the driver turns the class into an actor with ``ray.remote``, and a test can call it directly.
"""

from __future__ import annotations

import logging
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

        from cyclegan_fx.runners.cache import RunnerCache
        from cyclegan_fx.runtime.config import ModelChoice

        self.settings = settings
        self.runners = RunnerCache()
        self.key: ModelChoice | None = None
        self.problem: CycleganFxError | None = None
        if settings.threads:
            torch.set_num_threads(settings.threads)
        try:
            self.key = ModelChoice(_fetch(model), settings.direction, settings.device, settings.precision,
                                 settings.backend)
            self.runners.get(self.key)
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
        """Reading and writing overlap other threads' images; the runner takes one image at a time."""
        from cyclegan_fx.runners.translate_file import translate_file
        from cyclegan_fx.scale.storage import local_copy, local_target

        runner = self.runners.get(self.key)
        with local_copy(source) as path, local_target(target) as local:
            translate_file(runner, path, local, self.settings.options, overwrite=False)


def _fetch(model: Callable[[], ModelFiles]) -> str:
    """The model unpacked on this node, as ``resolve_model`` takes it."""
    try:
        files = model()
    except Exception as exc:  # whatever Ray raised: one sentence with the first line of its message
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        raise ConfigError(f"The worker could not get the model from the driver: {detail}.") from exc
    return unpack_model(files)


def _unexpected(source: str, exc: Exception) -> str:
    """One sentence for an error that is not a user error: out of memory, or a bug worth a traceback."""
    from cyclegan_fx.runtime.devices import is_out_of_memory

    if isinstance(exc, MemoryError) or is_out_of_memory(exc):
        return f"Cannot translate {source}: out of memory; lower --work-size or --max-memory, or give workers more memory."
    log.exception("Unexpected error translating %s", source)
    detail = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
    return f"Cannot translate {source}: unexpected {type(exc).__name__}{': ' + detail if detail else ''}."
