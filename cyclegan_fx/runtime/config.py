"""What a run is asked for: the model choice and the runner's per-call options, each field with its rule.

The CLI, the watch TOML, the service's JSON, video and GIMP map their inputs onto these (see config_fields).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from cyclegan_fx.config_fields import check_fields, option


class StatsMode(str, enum.Enum):
    EXACT = "exact"  # whole-image statistics for every norm: equals one whole-image pass
    THUMBNAIL = "thumbnail"  # statistics of a downscaled copy: fast, approximate
    TILE = "tile"  # each tile its own statistics: seams; only for comparison


WorkSize = int | Literal["full", "model"]
DIRECTIONS = ("a2b", "b2a")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

DEFAULT_MAX_PIXELS = 250_000_000
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """A byte count such as 4G, 3500M or 1073741824; ValueError for anything else."""
    number = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = number[-1:] if number[-1:] in _SIZE_UNITS else ""
    return int(float(number[: len(number) - len(unit)]) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class ModelChoice:
    """Which runner to open; watched folders with equal choices share one loaded model."""

    model: str = option("vintage", "Model store name, bundle folder, or generator file (.pth/.safetensors).")
    direction: str = option("a2b", "Which generator of the model to apply.", DIRECTIONS)
    device: str = option("auto", "", DEVICES)
    precision: str = option(
        "auto", "auto: fp16 on CUDA; on a CPU bf16 where it has native bf16 (AVX-512 BF16/AMX), else fp32.", PRECISIONS
    )
    backend: str = option(
        "auto", "auto: TensorRT if an engine for this GPU is cached, else PyTorch "
        "(ONNX Runtime only when asked for).", BACKENDS,
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class RunOptions:
    stats: StatsMode = option(
        StatsMode.EXACT, "Norm statistics: exact (equals a whole-image pass), thumbnail (fast, approximate), "
        "tile (per tile, shows seams; for comparison).", tuple(m.value for m in StatsMode),
    )
    tile: int | None = option(
        None, "Tile core size in pixels; 0 = one whole-image pass. Default: the fastest that fits in free memory "
        "(256 on a CPU). On a CPU, 128-512 cost within 10% of the default; 1024 and more are slower (1.1-1.5x) "
        "and take more memory.", minimum=0,
    )
    batch: int | None = option(None, "Tiles per network call.", minimum=1)  # None: from memory
    work_size: WorkSize = option(
        "model", "Translate at this long side and restore full-resolution detail, or 'full'. "
        "Default: the model's recommendation.", words=("full", "model"), minimum=16, metavar="N|full",
    )
    strength: float = option(1.0, "Blend with the input: 0 keeps it, 1 is the full translation.", minimum=0.0, maximum=1.0)
    thumbnail_size: int = option(512, "Long side of the copy used by --stats thumbnail.", minimum=16)
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS, "Refuse images with more pixels than this (decompression-bomb guard).", minimum=1
    )
    # bytes the process may hold; None: what the machine has free
    max_memory: int | None = option(
        None, "Keep the process within this much memory (e.g. 4G); exact statistics then trade speed for memory "
        "when needed. Default: what is free.", minimum=1, parse=parse_size, metavar="SIZE",
    )

    def __post_init__(self) -> None:
        check_fields(self)
