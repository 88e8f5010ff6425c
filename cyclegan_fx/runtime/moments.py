"""Per-channel mean and variance of a whole image, accumulated over the cores of its tiles."""

from __future__ import annotations

import torch

from cyclegan_fx.runtime.backend import NormStats


class Moments:
    """Sums and sums of squares per channel, over many cores, in float64.

    With ``band`` a core is read in bands of about that many values: each band is converted to
    float32 and summed there (short sums, exact enough), and the band sums are accumulated in
    float64. Without it a core is converted at once (one kernel on a GPU).
    """

    def __init__(self, band: int | None = None) -> None:
        self.band = band
        self.count = 0
        self.sum: torch.Tensor | float = 0.0
        self.sum_sq: torch.Tensor | float = 0.0

    @torch.inference_mode()
    def add(self, core: torch.Tensor) -> None:
        """Add one core, (C, H, W) in any float dtype, stored channels-last as the tiles are."""
        channels, height, width = core.shape
        values = core.permute(1, 2, 0)
        rows = height if self.band is None else max(1, self.band // max(1, channels * width))
        total = torch.zeros(channels, dtype=torch.float64, device=core.device)
        total_sq = torch.zeros_like(total)
        for y in range(0, height, rows):
            band = values[y : y + rows].float()
            # Two one-axis sums: a (rows, width) reduction at once over a cropped view is about 2.5x slower.
            total += band.sum(1).sum(0)
            total_sq += band.square().sum(1).sum(0)
        self.sum = self.sum + total.cpu()
        self.sum_sq = self.sum_sq + total_sq.cpu()
        self.count += height * width

    def result(self) -> NormStats:
        mean = self.sum / self.count
        return NormStats(mean, (self.sum_sq / self.count - mean.square()).clamp_min(0.0))
