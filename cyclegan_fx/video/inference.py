"""Translate frames batch by batch through the shared runner, with the job's temporal statistics.

Batches hold frames of one size and type, never cross a chunk boundary (so a resumed run computes
the same batches) and, with per-shot statistics, never cross a cut.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.statistics import AdjustedStats, GivenStats, OwnStats, StatsSource
from cyclegan_fx.video.temporal import (
    ShotRecorder,
    Smoother,
    StatsByNorm,
    shots_to_arrays,
    stats_from_arrays,
    stats_to_arrays,
)


@dataclass
class Frame:
    """One frame on its way through the pipeline."""

    index: int  # counted from the first frame of the job
    pixels: np.ndarray | None  # what the runner translates: float RGB for video, the image's own array for sequences
    thumb: np.ndarray  # for cut detection; saved at chunk ends
    cut: bool  # the frame starts a new shot
    damage: int = 0  # unreadable packets or files just before this frame
    stamp: Any = None  # where it came from: timestamps for video, the file for sequences
    result: np.ndarray | None = None
    state: dict[str, np.ndarray] | None = None  # statistics state after this frame; set at chunk ends
    guide: np.ndarray | None = None  # --temporal flow: the input in 8-bit RGB, which the flow is measured on

    @property
    def ends_chunk(self) -> bool:
        """The last frame of a chunk (or of the job): its chunk can be closed."""
        return self.state is not None


class Statistics(Protocol):
    """How a job sets the normalization statistics of each batch."""

    def norms(self, batch: Sequence[Frame]) -> StatsSource: ...

    def batch_done(self) -> None: ...

    def same_batch(self, previous: Frame, frame: Frame) -> bool: ...

    def state(self) -> dict[str, np.ndarray]: ...


class PerFrame:
    """``--temporal off``: every frame its own exact statistics."""

    def __init__(self, saved: Mapping[str, np.ndarray] | None = None) -> None:
        """``saved``: the state after the last finished chunk (none here: nothing carries over)."""

    def norms(self, batch):
        return OwnStats()

    def batch_done(self) -> None:
        pass

    def same_batch(self, previous, frame) -> bool:
        return True

    def state(self) -> dict[str, np.ndarray]:
        return {}


class Smoothed(PerFrame):
    """``--temporal smooth``: a moving average per norm, restarted at cuts."""

    def __init__(self, momentum: float, saved: Mapping[str, np.ndarray] | None = None) -> None:
        self.smoother = Smoother(momentum, stats_from_arrays(saved or {}, "ema."))

    def norms(self, batch):
        return AdjustedStats(self.smoother.hook([f.cut for f in batch]))

    def state(self) -> dict[str, np.ndarray]:
        return stats_to_arrays(self.smoother.state, "ema.")


class ShotRecording(PerFrame):
    """Pass one of ``--temporal shot``: per-frame statistics, summed per shot and saved per chunk."""

    def __init__(self, saved: Mapping[str, np.ndarray] | None = None) -> None:
        self.recorder = ShotRecorder()
        self.shot = int(saved["last_shot"]) if saved else -1

    def norms(self, batch):
        ids = []
        for frame in batch:
            self.shot += frame.cut
            ids.append(self.shot)
        return AdjustedStats(self.recorder.hook(ids))

    def batch_done(self) -> None:
        self.recorder.commit()

    def state(self) -> dict[str, np.ndarray]:
        arrays = {"last_shot": np.array(self.shot), **shots_to_arrays(self.recorder.shots)}
        self.recorder.shots = {}  # each chunk saves the sums of its own frames
        return arrays


class PerShot(PerFrame):
    """Pass two of ``--temporal shot``: every frame of a shot with the shot's average statistics."""

    def __init__(self, cuts: Sequence[int], shots: Mapping[int, StatsByNorm],
                 saved: Mapping[str, np.ndarray] | None = None) -> None:
        """The shots' statistics come from the first pass; nothing is carried from chunk to chunk."""
        self.cuts = sorted(cuts)  # index of the first frame of each shot
        self.shots = shots

    def shot_of(self, frame: Frame) -> int:
        return bisect.bisect_right(self.cuts, frame.index) - 1

    def norms(self, batch):
        return GivenStats(self.shots[self.shot_of(batch[0])])

    def same_batch(self, previous, frame) -> bool:
        return self.shot_of(previous) == self.shot_of(frame)


def translate(
    frames: Iterator[Frame],
    runner: Runner,
    options: RunOptions,
    statistics: Statistics,
    frame_batch: int,
    chunk_frames: int,
) -> Iterator[Frame]:
    """Frames with ``result`` set, in order; the last frame of a chunk (and of all) carries the statistics
    state after it."""
    for batch, last in _batches(frames, statistics, frame_batch, chunk_frames):
        results = runner.run_batch([f.pixels for f in batch], options, statistics=statistics.norms(batch))
        statistics.batch_done()
        for frame, result in zip(batch, results, strict=True):
            frame.result = result
            frame.pixels = None  # the decoded frame is no longer needed; free it before the encoder runs
        if last or _ends_chunk(batch[-1], chunk_frames):
            batch[-1].state = statistics.state()
        yield from batch


def _batches(
    frames: Iterator[Frame], statistics: Statistics, size: int, chunk_frames: int
) -> Iterator[tuple[list[Frame], bool]]:
    """Batches, each with whether it holds the very last frame."""
    batch: list[Frame] = []
    for frame, last in _with_last(frames):
        if batch and not (_alike(frame, batch[-1]) and statistics.same_batch(batch[-1], frame)):
            yield batch, False
            batch = []
        batch.append(frame)
        if last or len(batch) == size or _ends_chunk(frame, chunk_frames):
            yield batch, last
            batch = []


def _alike(a: Frame, b: Frame) -> bool:
    """Whether the runner can take both in one call: one shape and one type."""
    return a.pixels.shape == b.pixels.shape and a.pixels.dtype == b.pixels.dtype


def _with_last(items: Iterator[Frame]) -> Iterator[tuple[Frame, bool]]:
    previous = next(items, None)
    for item in items:
        yield previous, False
        previous = item
    if previous is not None:
        yield previous, True


def _ends_chunk(frame: Frame, chunk_frames: int) -> bool:
    return (frame.index + 1) % chunk_frames == 0
