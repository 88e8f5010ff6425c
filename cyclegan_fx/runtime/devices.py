"""Choosing a device and precision, and how much memory the tiles may use there."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from cyclegan_fx.errors import DeviceError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when a GPU is usable, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is usable here; use --device cpu.")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"Unknown device {name!r}; use auto, cpu or cuda.") from exc


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 on CUDA, bf16 on CPUs with native bf16 arithmetic, else fp32 (norms always in fp32)."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if precision not in _DTYPES:
        raise DeviceError(f"Unknown precision {precision!r}; use auto, fp32, bf16 or fp16.")
    if precision == "fp16" and device.type != "cuda":
        raise DeviceError("fp16 needs a CUDA GPU; on the CPU use bf16 or fp32.")
    return _DTYPES[precision]


def precision_name(dtype: torch.dtype) -> str:
    return next(name for name, value in _DTYPES.items() if value == dtype)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: where bf16 convolutions are faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def available_memory(device: torch.device) -> int:
    """Bytes that can be allocated now on ``device`` without swapping."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError or the CPU allocator's failure."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def process_rss() -> int:
    """Resident memory of this process in bytes (0 where it cannot be read)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
