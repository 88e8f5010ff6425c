"""Build a Runner for a model, a direction, a device and a precision."""

from __future__ import annotations

import logging

from cyclegan_fx.models import Model
from cyclegan_fx.runtime.devices import precision_name, resolve_device, resolve_dtype
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend

log = logging.getLogger(__name__)


def open_runner(model: Model, direction: str = "a2b", device: str = "auto", precision: str = "auto") -> Runner:
    """Load the generator of ``direction`` onto a backend; the Runner can be shared by threads."""
    generator = model.generator(direction)
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    log.debug("Model %s (%s) on %s in %s.", model.name, direction, torch_device, precision_name(dtype))
    return Runner(generator, TorchBackend(generator, torch_device, dtype), model.info.work_size)
