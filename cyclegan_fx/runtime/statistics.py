"""How one runner call normalizes: each image's own exact statistics, those adjusted by a hook, or given ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from cyclegan_fx.runtime.backend import NormHook, NormStats


@dataclass(frozen=True)
class OwnStats:
    """Each image's own exact statistics at every norm: equals one whole-image pass (the default)."""

    hook: ClassVar[None] = None

    def known(self, positions: tuple[int, ...], images: int) -> None:
        """Measured during the call: nothing is known before it."""
        return


@dataclass(frozen=True)
class AdjustedStats:
    """Each image's exact statistics as ``hook`` adjusts them at every norm (video smoothing, shot recording)."""

    hook: NormHook

    def known(self, positions: tuple[int, ...], images: int) -> None:
        """Measured during the call: nothing is known before it."""
        return


@dataclass(frozen=True)
class GivenStats:
    """The same statistics, position -> NormStats, at every norm of every image (a shot's average)."""

    stats: Mapping[int, NormStats]
    hook: ClassVar[None] = None

    def known(self, positions: tuple[int, ...], images: int) -> list[dict[int, NormStats]]:
        """One mapping per image, covering the norms at ``positions``."""
        missing = [p for p in positions if p not in self.stats]
        if missing:
            raise ValueError(f"given statistics lack the norms at positions {missing}")
        return [dict(self.stats) for _ in range(images)]


StatsSource = OwnStats | AdjustedStats | GivenStats
