"""Progress reports for front-ends: fraction of the work done and tiles done out of all."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    fraction: float
    tiles_done: int
    tiles_total: int


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Turns per-tile costs into Progress reports; one per call, never shared."""

    def __init__(self, callback: ProgressCallback | None, total_cost: float, total_tiles: int) -> None:
        self.callback = callback
        self.total_cost = max(total_cost, 1e-9)
        self.total_tiles = total_tiles
        self.cost = 0.0
        self.tiles = 0
        self.lock = threading.Lock()

    def tile_done(self, cost: float) -> None:
        with self.lock:
            self.cost += cost
            self.tiles += 1
            report = Progress(min(self.cost / self.total_cost, 1.0), self.tiles, self.total_tiles)
        if self.callback is not None:
            self.callback(report)
