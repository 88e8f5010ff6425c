"""Options shared by the commands that run a model: ModelChoice's and RunOptions' fields as flags."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from cyclegan_fx.cli.config_flags import field_options
from cyclegan_fx.config_fields import checked
from cyclegan_fx.runtime.config import ModelChoice, RunOptions

_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))


def model_options(command: Callable) -> Callable:
    """--model, --direction, and the device options."""
    return field_options(ModelChoice, ("model", "direction"), short={"model": "-m", "direction": "-d"})(
        device_options(command)
    )


def device_options(command: Callable) -> Callable:
    """--device, --precision, --backend."""
    return field_options(ModelChoice, ("device", "precision", "backend"))(command)


def run_options(command: Callable) -> Callable:
    """Options of RunOptions, collected into one ``options`` argument."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(name) for name in _RUN_FIELDS}
        return command(*args, options=RunOptions(**checked(RunOptions, values)), **kwargs)

    return field_options(RunOptions)(wrapper)
