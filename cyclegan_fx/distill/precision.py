"""The mixed precision a distillation runs in, for the teacher cache and the students alike."""

from __future__ import annotations

import contextlib

import torch

from cyclegan_fx.runtime.devices import cpu_has_native_bf16
from cyclegan_fx.training.model import amp_dtype


def precision(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 where the device computes it natively (CPUs included: a small student trains faster so)."""
    if amp != "auto":
        return amp_dtype(amp, device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``; plain fp32 for None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
