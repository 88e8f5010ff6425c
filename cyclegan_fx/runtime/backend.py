"""The interface every inference backend implements, and the statistics it is given.

The tiled executor only ever asks a backend to run one segment of a generator's
program on a batch of tiles. A PyTorch backend interprets the program; an ONNX
Runtime or TensorRT backend runs one exported graph per segment, with the norm
statistics as graph inputs. Everything else (planning, statistics, stitching)
stays outside the backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from cyclegan_fx.runtime.schedule import Segment


@dataclass(frozen=True)
class NormStats:
    """Per-channel mean and biased variance of one normalization's input (float64, CPU).

    Shape (C,) for one image; backends receive (B, C), one row per tile of the batch.
    """

    mean: torch.Tensor
    var: torch.Tensor


NormHook = Callable[[int, list[NormStats]], Sequence[NormStats]]
"""Called at a normalization (its program position) with the statistics measured for each image of a
call; returns the statistics to normalize each image with (e.g. smoothed over video frames)."""


@dataclass
class SegmentResult:
    """Fresh tensors on every call: the executor keeps views of them while later tiles run."""

    out: torch.Tensor  # activation at ``segment.end`` (pre-norm when the end is a norm)
    saved: list[torch.Tensor]  # one per ``segment.saves_out``


@dataclass(frozen=True)
class Tuning:
    """How the shared executor shapes work for one backend; the defaults suit GPUs and fixed-profile engines."""

    wide_core: int | None = None  # largest core for sweeps at the cheapest resolution; None: the usual cores
    moment_band: int | None = None  # values summed at a time for statistics; None: a whole core at once


class Backend(Protocol):
    name: str
    device: torch.device
    dtype: torch.dtype  # dtype of activations passed in and returned
    tuning: Tuning
    max_tile: int | None  # largest tile core the backend accepts (engines have fixed profiles)
    max_batch: int | None
    segments: frozenset[Segment] | None  # the segments it can run (an exported pack's); None: any

    def run(
        self,
        segment: Segment,
        x: torch.Tensor,
        skips: Sequence[torch.Tensor],
        stats: Mapping[int, NormStats],
    ) -> SegmentResult:
        """Run ``segment`` on a batch ``x`` (N, C, H, W) already on ``device`` in ``dtype``.

        Norms inside the segment use ``stats`` (rows matching the batch) unless ``segment.local_norms``.
        ``x`` and ``skips`` may be views of the caller's canvases: they are read, never written.
        """
        ...
