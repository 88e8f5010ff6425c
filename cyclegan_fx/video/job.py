"""Run a video job: one or two passes over the frames in chunks, resumable, then the output.

What differs between a video file and an image sequence (reading frames, storing the
translated ones) is a Medium; the passes, the temporal statistics, the threads and the
resuming are the same for both. Delivering the output is the caller's.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cyclegan_fx.errors import OutputError, VideoReadError
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.video.config import Temporal, VideoOptions
from cyclegan_fx.video.flow import FlowBlender, follow_motion, with_guide
from cyclegan_fx.video.inference import Frame, PerFrame, PerShot, ShotRecording, Smoothed, Statistics, translate
from cyclegan_fx.video.pipeline import in_thread
from cyclegan_fx.video.temporal import StatsByNorm, pooled, shots_from_arrays
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

log = logging.getLogger("cyclegan_fx")

FrameProgressCallback = Callable[[int, int | None], None]  # frames done, frames expected (None: unknown)
STATS = "stats"  # chunks of the first pass of --temporal shot


@dataclass(frozen=True)
class Resume:
    """Where a pass picks up: after the last finished chunk."""

    index: int  # the first frame still to do
    key: int  # the medium's key of the frame before it (a pts for video)
    thumb: np.ndarray  # that frame's thumbnail, for cut detection
    saved: dict[str, np.ndarray]  # the statistics state after it


class Medium(Protocol):
    kind: str  # name of the chunks of the translating pass
    expected_frames: int | None

    def frames(self, resume: Resume | None, cut_threshold: float) -> Iterator[Frame]:
        """Frames from the start or from ``resume``, each with its thumbnail and cut flag."""
        ...

    def resume_key(self, frame: Frame) -> int: ...

    def write(
        self, frames: Iterator[Frame], work: WorkFolder, chunk_frames: int, on_frame: Callable[[], None]
    ) -> None:
        """Store translated frames as finished chunks of ``kind``."""
        ...


@dataclass
class FinishedChunks:
    records: list[ChunkRecord]  # the finished chunks of the translating pass, in order
    frames: int
    damage: int


def run_passes(medium: Medium, runner: Runner, run_options: RunOptions, options: VideoOptions, work: WorkFolder,
               progress: FrameProgressCallback | None) -> FinishedChunks:
    """Translate every frame of ``medium`` into chunks of the work folder, picking up finished ones."""
    temporal = options.temporal
    passes = 2 if temporal.mode is Temporal.SHOT else 1
    counter = _Counter(progress, medium.expected_frames, passes)
    statistics: Callable[[dict[str, np.ndarray]], Statistics]  # from the state saved with the last chunk
    if temporal.mode is Temporal.SHOT:
        _run_pass(medium, STATS, ShotRecording, record_shots(medium), runner, run_options, options, work, counter)
        statistics = functools.partial(PerShot, *_shots(work))
    elif temporal.mode in (Temporal.SMOOTH, Temporal.FLOW):
        statistics = functools.partial(Smoothed, temporal.momentum)
    else:
        statistics = PerFrame
    flow = temporal.mode is Temporal.FLOW and temporal.consistency > 0
    _run_pass(medium, medium.kind, statistics, medium.write, runner, run_options, options, work, counter, flow)
    records = work.finished(medium.kind)
    frames = sum(r.frames for r in records)
    if frames == 0:
        where = " between --start and --end" if options.start is not None or options.end is not None else ""
        raise VideoReadError(f"There are no frames to translate{where}.")
    return FinishedChunks(records, frames, sum(r.damage for r in records))


def _shots(work: WorkFolder) -> tuple[list[int], dict[int, StatsByNorm]]:
    """The first frame of every shot, and each shot's average statistics, from the first pass."""
    records = work.finished(STATS)
    cuts = [cut for record in records for cut in record.cuts]
    return cuts, pooled([shots_from_arrays(work.arrays(STATS, i)) for i in range(len(records))])


def _run_pass(medium, kind: str, statistics, sink, runner, run_options, options: VideoOptions, work: WorkFolder,
              counter: _Counter, flow: bool = False) -> None:
    """One pass in threads: decode, translate, blend along the flow (with ``flow``), then ``sink``."""
    records = work.finished(kind)
    done = sum(r.frames for r in records)
    counter.skip(done)
    end = work.note(f"{kind}-end")
    if end is not None and end["frames"] == done:
        return
    resume = None
    if records:
        saved = work.arrays(kind, len(records) - 1)
        resume = Resume(done, records[-1].last_key, saved.pop("thumb"), saved)
    batch = options.frame_batch
    saved = resume.saved if resume else None
    decoded = medium.frames(resume, options.temporal.cut_threshold)
    frames = in_thread(with_guide(decoded) if flow else decoded, 2 * batch, "decode")
    translated = in_thread(
        translate(frames, runner, run_options, statistics(saved), batch, options.chunk_frames), 2 * batch, "translate"
    )
    if flow:
        blender = FlowBlender(options.temporal.consistency, saved)
        translated = in_thread(follow_motion(translated, blender), 2 * batch, "flow")
    with contextlib.closing(translated):  # on failure, stops the threads behind it
        sink(translated, work, options.chunk_frames, counter.advance)
    work.write_note(f"{kind}-end", {"frames": sum(r.frames for r in work.finished(kind))})


def record_shots(medium: Medium):
    """The sink of the first pass: each chunk's per-shot sums and cuts."""

    def sink(frames: Iterator[Frame], work: WorkFolder, chunk_frames: int, on_frame: Callable[[], None]) -> None:
        cuts: list[int] = []
        count = damage = 0
        for frame in frames:
            count += 1
            damage += frame.damage
            if frame.cut:
                cuts.append(frame.index)
            frame.result = None
            on_frame()
            if frame.ends_chunk:
                record = ChunkRecord(frames=count, damage=damage, last_key=medium.resume_key(frame), cuts=tuple(cuts))
                work.finish(STATS, frame.index // chunk_frames, record, {"thumb": frame.thumb, **frame.state})
                cuts, count, damage = [], 0, 0

    return sink


class _Counter:
    """Frames done over all passes, for the progress callback."""

    def __init__(self, callback: FrameProgressCallback | None, per_pass: int | None, passes: int) -> None:
        self.callback = callback
        self.total = per_pass * passes if per_pass else None
        self.done = 0

    def skip(self, frames: int) -> None:
        self.done += frames
        self._report()

    def advance(self) -> None:
        self.done += 1
        self._report()

    def _report(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total)


@contextlib.contextmanager
def keeping_finished_work(work: WorkFolder, kinds: tuple[str, ...]) -> Iterator[None]:
    """On failure, keep the work folder if it holds finished chunks (for --resume), else remove it;
    an output that cannot be written removes it too."""
    try:
        yield
    except OutputError:  # an output that cannot be written fails the same way on every run
        work.remove()
        raise
    except BaseException:
        if any(work.done(kind) for kind in kinds):
            log.warning("The finished part is kept in %s; run the same command with --resume to continue.",
                        work.path)
        else:
            work.remove()
        raise
