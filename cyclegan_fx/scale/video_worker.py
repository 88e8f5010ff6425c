"""The work one Ray actor of ``video --ray`` does: translate whole chunks of a clip into the job's work folder
with the steps of the single-process job (decode, translate with the job's statistics, encode a closed chunk).

A clip on an object store is downloaded once per actor, on its first chunk, and kept until the driver
releases it: every chunk seeks in that local copy, as the decoder needs a file.
Plain Python, like the batch Translator it extends: the driver makes an actor of it, a test can call it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from cyclegan_fx.errors import CycleganFxError, VideoReadError
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.scale.model_files import ModelFiles
from cyclegan_fx.scale.storage import LocalCopy, Location, named_as
from cyclegan_fx.scale.video_plan import ChunkTask
from cyclegan_fx.scale.video_store import chunk_folder
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

    work: Location  # the job's work folder: on a path every node sees, or on an object store
    clip: Location  # the video file: on a path every node sees, or on an object store
    source: VideoSource  # as the driver found it (its path: the driver's)
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

    def __init__(self, settings: ChunkSettings, model: Callable[[], ModelFiles]) -> None:
        super().__init__(settings, model)  # type: ignore[arg-type]
        self.clip = LocalCopy(settings.clip, VideoReadError)

    def translate(self, task: ChunkTask) -> ChunkOutcome:  # type: ignore[override]
        """Translate one chunk; a chunk finished already (by an earlier attempt or run) is skipped, never redone."""
        settings: ChunkSettings = self.settings
        started = time.monotonic()
        try:
            with chunk_folder(settings.work) as work:
                if work.is_done(task.kind, task.index):
                    return ChunkOutcome(task.kind, task.index, "skipped")
                if self.problem is not None:
                    raise self.problem
                self._translate_chunk(task, work)
        except CycleganFxError as exc:
            return ChunkOutcome(task.kind, task.index, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - the driver says it in one sentence and stops the job
            return ChunkOutcome(task.kind, task.index, "failed", _unexpected(describe(task, settings), exc))
        return ChunkOutcome(task.kind, task.index, "written", seconds=time.monotonic() - started)

    def _translate_chunk(self, task: ChunkTask, work: WorkFolder) -> None:
        """Decode from this actor's copy of the clip; errors name the clip as the user gave it."""
        local = self.clip.path()
        settings = dataclasses.replace(self.settings, source=dataclasses.replace(self.settings.source, path=local))
        with named_as(local, settings.clip.text):
            translate_chunk(task, settings, self.runners.get(self.key).runner, work)

    def release(self) -> None:
        """Remove the local copy of the clip: killing the actor would leave it on the node's disk."""
        self.clip.close()


def describe(task: ChunkTask, settings: ChunkSettings) -> str:
    return f"frames {task.first}-{task.end - 1} of {settings.clip.text}"


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
