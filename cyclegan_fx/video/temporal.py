"""Normalization statistics across frames: the hooks and mappings the runner is given per batch.

``--temporal smooth`` carries each norm's mean and variance from frame to frame as an
exponential moving average, layer by layer (the runner measures a frame's statistics at a
norm with the smoothed ones of the norms before it), and starts afresh at a scene cut.
``--temporal shot`` averages each norm's statistics over a whole shot in a first pass and
translates every frame of the shot with them in a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cyclegan_fx.runtime.backend import NormHook, NormStats

StatsByNorm = dict[int, NormStats]


class Smoother:
    """The moving average of every norm's statistics, one frame after another."""

    def __init__(self, momentum: float, state: StatsByNorm | None = None) -> None:
        self.momentum = momentum
        self.state: StatsByNorm = dict(state or {})  # after the last frame seen

    def hook(self, starts: Sequence[bool]) -> NormHook:
        """The hook for one batch of frames in order; ``starts[i]``: frame i begins a shot.

        Each call depends only on the state before the batch, so a runner that repeats a norm
        (after running out of memory, say) gets the same answer again.
        """
        before = dict(self.state)

        def smooth(position: int, measured: list[NormStats]) -> list[NormStats]:
            carried = before.get(position)
            out = []
            for stats, start in zip(measured, starts, strict=True):
                carried = stats if carried is None or start else _mix(carried, stats, self.momentum)
                out.append(carried)
            self.state[position] = carried
            return out

        return smooth


def _mix(carried: NormStats, new: NormStats, momentum: float) -> NormStats:
    keep = 1.0 - momentum
    return NormStats(carried.mean * momentum + new.mean * keep, carried.var * momentum + new.var * keep)


@dataclass
class ShotSums:
    """Sums of each norm's per-frame mean and variance over the frames of one shot seen so far."""

    frames: int = 0
    mean: dict[int, torch.Tensor] = field(default_factory=dict)
    var: dict[int, torch.Tensor] = field(default_factory=dict)

    def add(self, position: int, stats: NormStats) -> None:
        if position in self.mean:
            self.mean[position] += stats.mean
            self.var[position] += stats.var
        else:
            self.mean[position] = stats.mean.clone()
            self.var[position] = stats.var.clone()

    def merge(self, other: ShotSums) -> None:
        self.frames += other.frames
        for position in other.mean:
            self.add(position, NormStats(other.mean[position], other.var[position]))

    def average(self) -> StatsByNorm:
        return {p: NormStats(self.mean[p] / self.frames, self.var[p] / self.frames) for p in self.mean}


class ShotRecorder:
    """Pass one of ``--temporal shot``: frames keep their own statistics, which are summed per shot."""

    def __init__(self) -> None:
        self.shots: dict[int, ShotSums] = {}
        self._pending: tuple[Sequence[int], dict[int, list[NormStats]]] | None = None

    def hook(self, shot_ids: Sequence[int]) -> NormHook:
        """The hook for one batch; ``shot_ids[i]``: the shot of frame i. Call ``commit`` after the batch."""
        measured_by_norm: dict[int, list[NormStats]] = {}
        self._pending = (list(shot_ids), measured_by_norm)

        def record(position: int, measured: list[NormStats]) -> list[NormStats]:
            measured_by_norm[position] = measured
            return measured

        return record

    def commit(self) -> None:
        """Add the statistics of the batch just translated to its shots' sums."""
        if self._pending is None:
            return
        shot_ids, measured_by_norm = self._pending
        self._pending = None
        for shot in shot_ids:
            self.shots.setdefault(shot, ShotSums()).frames += 1
        for position, measured in measured_by_norm.items():
            for stats, shot in zip(measured, shot_ids, strict=True):
                self.shots[shot].add(position, stats)


def pooled(pieces: Sequence[Mapping[int, ShotSums]]) -> dict[int, StatsByNorm]:
    """Each shot's average statistics, from the sums that the chunks of pass one recorded."""
    total: dict[int, ShotSums] = {}
    for piece in pieces:
        for shot, sums in piece.items():
            total.setdefault(shot, ShotSums()).merge(sums)
    return {shot: sums.average() for shot, sums in total.items()}


# --- saved with a chunk, as plain arrays ---------------------------------------------------


def stats_to_arrays(stats: Mapping[int, NormStats], prefix: str = "") -> dict[str, np.ndarray]:
    arrays = {}
    for position, s in stats.items():
        arrays[f"{prefix}{position}.mean"] = s.mean.numpy().copy()
        arrays[f"{prefix}{position}.var"] = s.var.numpy().copy()
    return arrays


def stats_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "") -> StatsByNorm:
    positions = sorted({int(k[len(prefix):].split(".")[0]) for k in arrays
                        if k.startswith(prefix) and k.endswith(".mean")})
    return {p: NormStats(torch.from_numpy(np.array(arrays[f"{prefix}{p}.mean"])),
                         torch.from_numpy(np.array(arrays[f"{prefix}{p}.var"])))
            for p in positions}


def shots_to_arrays(shots: Mapping[int, ShotSums], prefix: str = "shot") -> dict[str, np.ndarray]:
    arrays = {}
    for shot, sums in shots.items():
        arrays[f"{prefix}{shot}.frames"] = np.array(sums.frames)
        stats = {p: NormStats(sums.mean[p], sums.var[p]) for p in sums.mean}
        arrays.update(stats_to_arrays(stats, f"{prefix}{shot}."))
    return arrays


def shots_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "shot") -> dict[int, ShotSums]:
    shots = {}
    for key in arrays:
        if key.startswith(prefix) and key.endswith(".frames"):
            shot = int(key[len(prefix):].split(".")[0])
            stats = stats_from_arrays(arrays, f"{prefix}{shot}.")
            shots[shot] = ShotSums(int(arrays[key]), {p: s.mean for p, s in stats.items()},
                                   {p: s.var for p, s in stats.items()})
    return shots
