"""Per-call options of the runner. The CLI, the daemon, video and GIMP map their inputs onto these."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from cyclegan_fx.errors import ConfigError


class StatsMode(str, enum.Enum):
    EXACT = "exact"  # whole-image statistics for every norm: equals one whole-image pass
    THUMBNAIL = "thumbnail"  # statistics of a downscaled copy: fast, approximate
    TILE = "tile"  # each tile its own statistics: seams; only for comparison


WorkSize = int | Literal["full", "model"]
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

DEFAULT_MAX_PIXELS = 250_000_000


@dataclass(frozen=True)
class RunOptions:
    stats: StatsMode = StatsMode.EXACT
    tile: int | None = None  # core size in pixels; None: largest that fits in memory; 0: whole image at once
    batch: int | None = None  # tiles per backend call; None: from memory
    work_size: WorkSize = "model"  # long side to translate at; "model": the model's recommendation
    strength: float = 1.0  # 0 keeps the input, 1 is the full translation
    thumbnail_size: int = 512  # long side of the copy whose statistics the thumbnail mode uses
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int | None = None  # bytes the process may hold; None: what the machine has free

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"Strength must be between 0 and 1, not {self.strength}.")
        if self.tile is not None and self.tile < 0:
            raise ConfigError(f"Tile size must be positive, or 0 for one whole-image pass, not {self.tile}.")
        if self.batch is not None and self.batch < 1:
            raise ConfigError(f"Batch must be at least 1, not {self.batch}.")
        if isinstance(self.work_size, str) and self.work_size not in ("full", "model"):
            raise ConfigError(f"Work size must be a number of pixels or 'full', not {self.work_size!r}.")
        if isinstance(self.work_size, int) and self.work_size < 16:
            raise ConfigError(f"Work size must be at least 16 pixels, or 'full', not {self.work_size}.")
        if self.max_memory is not None and self.max_memory <= 0:
            raise ConfigError(f"The memory limit must be positive, not {self.max_memory}.")
        if self.thumbnail_size < 16:
            raise ConfigError(f"Thumbnail size must be at least 16 pixels, not {self.thumbnail_size}.")
