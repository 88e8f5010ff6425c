"""The work one Ray actor of ``video --ray`` does: translate whole chunks of a clip into the shared work folder
with the steps of the single-process job (decode, translate with the job's statistics, encode a closed chunk).

Plain Python, like the batch Translator it extends: the driver makes an actor of it, a test can call it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cyclegan_fx.errors import CycleganFxError, VideoReadError
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.scale.video_plan import ChunkTask
from cyclegan_fx.scale.worker import Translator, _unexpected
from cyclegan_fx.video.chunks import KIND, write_chunks
from cyclegan_fx.video.clip import VideoClip
from cyclegan_fx.video.config import Temporal, TemporalSettings
from cyclegan_fx.video.decode import Window
from cyclegan_fx.video.encode import EncoderSpec
from cyclegan_fx.video.flow import FlowBlender, follow_motion, with_guide
from cyclegan_fx.video.inference import Frame, PerFrame, PerShot, ShotRecording, Smoothed, Statistics, translate
from cyclegan_fx.video.job import STATS, Resume, record_shots
from cyclegan_fx.video.pipeline import in_thread
from cyclegan_fx.video.probe import VideoSource
from cyclegan_fx.video.work import WorkFolder


@dataclass(frozen=True)
class ChunkSettings:
    """Everything a video worker needs besides the model and the chunk: fixed for the whole job."""

    work: Path  # the job's work folder, on a path every node sees
    source: VideoSource
    window: Window
    spec: EncoderSpec
    muxer: str
    run: RunOptions
    temporal: TemporalSettings
    frame_batch: int
    chunk_frames: int
    direction: str
    device: str
    precision: str
    backend: str
    threads: int | None


@dataclass(frozen=True)
class ChunkOutcome:
    kind: str
    index: int
    status: Literal["written", "skipped", "failed"]
    reason: str = ""  # one sentence, for a failure
    seconds: float = 0.0


class ChunkTranslator(Translator):
    """One per GPU, or per group of CPU threads; one chunk at a time."""

    def translate(self, task: ChunkTask) -> ChunkOutcome:  # type: ignore[override]
        """Translate one chunk; a chunk finished already (by an earlier attempt or run) is skipped, never redone."""
        settings: ChunkSettings = self.settings
        work = WorkFolder(settings.work)
        started = time.monotonic()
        try:
            if work.file(task.kind, task.index, ".json").is_file():
                return ChunkOutcome(task.kind, task.index, "skipped")
            if self.problem is not None:
                raise self.problem
            translate_chunk(task, settings, self.runners.get(self.key).runner, work)
        except CycleganFxError as exc:
            return ChunkOutcome(task.kind, task.index, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - the driver says it in one sentence and stops the job
            return ChunkOutcome(task.kind, task.index, "failed", _unexpected(describe(task, settings), exc))
        return ChunkOutcome(task.kind, task.index, "written", seconds=time.monotonic() - started)


def describe(task: ChunkTask, settings: ChunkSettings) -> str:
    return f"frames {task.first}-{task.end - 1} of {settings.source.path}"


def translate_chunk(task: ChunkTask, settings: ChunkSettings, runner: Runner, work: WorkFolder) -> None:
    """Decode from just before the lead-in, translate the lead-in and the chunk, store the chunk's frames only."""
    clip = VideoClip(settings.source, settings.window, settings.spec, settings.muxer)
    start = task.decode_from
    resume = Resume(start, task.after_pts, None, {}) if task.after_pts is not None else None
    decoded = _translated_from(clip.frames(resume, settings.temporal.cut_threshold), task)
    flow = task.kind == KIND and settings.temporal.mode is Temporal.FLOW and settings.temporal.consistency > 0
    frames = in_thread(with_guide(decoded) if flow else decoded, 2 * settings.frame_batch, "decode")
    translated = in_thread(
        translate(frames, runner, settings.run, _statistics(task, settings.temporal), settings.frame_batch,
                  settings.chunk_frames),
        2 * settings.frame_batch,
        "translate",
    )
    if flow:  # the lead-in's frames build the history the chunk's first frame is blended with
        translated = in_thread(follow_motion(translated, FlowBlender(settings.temporal.consistency)),
                               2 * settings.frame_batch, "flow")
    with contextlib.closing(translated):
        kept = _kept(translated, task, settings)
        if task.kind == KIND:
            write_chunks(kept, work, settings.spec, settings.muxer, settings.chunk_frames, lambda: None)
        else:
            record_shots(clip)(kept, work, settings.chunk_frames, lambda: None)


def _statistics(task: ChunkTask, temporal: TemporalSettings) -> Statistics:
    if task.kind == STATS:
        return ShotRecording()  # shot numbers count from the chunk's start; the driver makes them global
    if temporal.mode is Temporal.SHOT:
        return PerShot(task.shots.cuts, task.shots.stats)
    if temporal.mode in (Temporal.SMOOTH, Temporal.FLOW):
        return Smoothed(temporal.momentum)
    return PerFrame()


def _translated_from(frames: Iterator[Frame], task: ChunkTask) -> Iterator[Frame]:
    """The lead-in and the chunk's frames: the frame decoded before the lead-in only set the first one's cut flag."""
    with contextlib.closing(frames):
        for frame in frames:
            if frame.index >= task.end:
                return
            if frame.index >= task.first - task.lead_in:
                yield frame


def _kept(frames: Iterator[Frame], task: ChunkTask, settings: ChunkSettings) -> Iterator[Frame]:
    """The chunk's own frames, checked to be the ones the plan found by their timestamps."""
    for frame in frames:
        if frame.index < task.first:
            frame.result = None
            continue
        if frame.index == task.first and frame.stamp.pts != task.first_pts or frame.ends_chunk and (
                frame.index != task.end - 1 or frame.stamp.pts != task.last_pts):
            raise VideoReadError(f"Frames {task.first}-{task.end - 1} of {settings.source.path} do not decode where "
                                 "their timestamps say (the file may be damaged); translate it without --ray.")
        yield frame
