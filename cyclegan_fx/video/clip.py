"""Translate a video file: decode -> translate -> encode into chunks, then join them with the other streams."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx import __version__
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.video.chunks import KIND, Stamp, write_chunks
from cyclegan_fx.video.config import VideoOptions
from cyclegan_fx.video.decode import ResumePoint, Window, decode
from cyclegan_fx.video.encode import ENCODERS, EncoderSpec, choose_encoder, muxer_writes, output_muxer
from cyclegan_fx.video.frames import to_rgb
from cyclegan_fx.video.inference import Frame
from cyclegan_fx.video.job import (
    STATS,
    FinishedChunks,
    FrameProgressCallback,
    Resume,
    keeping_finished_work,
    run_passes,
)
from cyclegan_fx.video.join import Span, join
from cyclegan_fx.video.outputs import ModelRef, Place, default_output
from cyclegan_fx.video.probe import VideoSource, probe
from cyclegan_fx.video.scenecut import CutDetector, thumbnail
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

log = logging.getLogger("cyclegan_fx")


@dataclass(frozen=True)
class Report:
    output: Path | str  # a URI where ``video --ray`` wrote to an object store
    frames: int
    damage: int  # input packets or files that could not be read


Passes = Callable[["VideoClip", WorkFolder], FinishedChunks]  # fill the work folder with finished chunks


def translate_video(
    path: Path, runner: Runner, run_options: RunOptions, options: VideoOptions, model: ModelRef,
    output: Path | None = None, progress: FrameProgressCallback | None = None,
) -> Report:
    """Translate every frame of the video file ``path``, keeping its timing, colour and other streams."""

    def passes(clip: VideoClip, work: WorkFolder) -> FinishedChunks:
        return run_passes(clip, runner, run_options, options, work, progress)

    return produce_video(path, run_options, options, model, output, passes)


def produce_video(
    path: Path, run_options: RunOptions, options: VideoOptions, model: ModelRef, output: Path | None,
    passes: Passes, job: Mapping[str, Any] | None = None, place: Place = Place(),
) -> Report:
    """Check the output, let ``passes`` translate the clip into chunks, then join them; ``job``: what else
    tells this job's work apart from another's for --resume; ``place``: where the output and work are kept."""
    source = probe(path)
    output = output_for(path, source, options, model, output)
    muxer = output_muxer(output)
    spec = choose_encoder(source, options.encode, muxer)
    if not muxer_writes(muxer, spec):
        raise ConfigError(f"FFmpeg here cannot write {output.name} with {spec.encoder} video; "
                          "use an output such as .mkv or .mp4.")
    place.check(output, options.overwrite)
    window = Window(options.start, options.end)
    clip = VideoClip(source, window, spec, muxer)
    log.info("%s: %dx%d %s, %s; writing %s with %s %s.", place.describe(path), source.width, source.height,
             source.codec, source.matrix.describe(), place.describe(output), spec.encoder, spec.pix_fmt)
    work = place.work_folder(output).start({**_job(source, spec, run_options, options, model), **(job or {})},
                                           options.resume)
    with keeping_finished_work(work, (STATS, KIND)):
        outcome = passes(clip, work)
        with place.deliver(output, options.overwrite) as target:
            join(work, outcome.records, source, spec, muxer, target, _span(outcome.records, source, window))
    work.remove()
    _report_damage(place.describe(path), source, window, outcome)
    return Report(output, outcome.frames, outcome.damage)


class VideoClip:
    """The Medium of a video file."""

    kind = KIND

    def __init__(self, source: VideoSource, window: Window, spec: EncoderSpec, muxer: str) -> None:
        self.source, self.window, self.spec, self.muxer = source, window, spec, muxer
        self.expected_frames = _expected_frames(source, window)

    def frames(self, resume: Resume | None, cut_threshold: float) -> Iterator[Frame]:
        detector = CutDetector(cut_threshold, resume.thumb if resume else None)
        point = ResumePoint(resume.index, resume.key) if resume else None
        matrix = self.source.matrix
        for decoded in decode(self.source, self.window, point):
            rgb = to_rgb(decoded.frame, matrix)
            thumb = thumbnail(rgb)
            stamp = Stamp(decoded.pts, decoded.duration)
            yield Frame(decoded.index, rgb, thumb, detector(thumb), decoded.damage, stamp)

    def resume_key(self, frame: Frame) -> int:
        return frame.stamp.pts

    def write(
        self, frames: Iterator[Frame], work: WorkFolder, chunk_frames: int, on_frame: Callable[[], None]
    ) -> None:
        write_chunks(frames, work, self.spec, self.muxer, chunk_frames, on_frame)


def output_for(path: Path, source: VideoSource, options: VideoOptions, model: ModelRef, output: Path | None) -> Path:
    """The output asked for, or beside the input (or in the folder given) in the input's format where that
    can be written with a modern codec, else as .mkv."""
    if output is not None and not output.is_dir():
        return output
    name = default_output(path, model)
    if not _writable(name, source, options):
        log.info("FFmpeg here cannot write %s files with a modern video codec; the output is .mkv.",
                 path.suffix or "suffix-less")
        name = default_output(path, model, ".mkv")
    return name if output is None else output / name.name


def _writable(path: Path, source: VideoSource, options: VideoOptions) -> bool:
    """Whether ``path`` can be written with one of the encoders chosen by name, not only with its format's
    own legacy codec (RealVideo, swf's FLV1, GIF's 256 colours)."""
    try:
        muxer = output_muxer(path)
        spec = choose_encoder(source, options.encode, muxer)
    except ConfigError:
        return False
    return spec.encoder in ENCODERS.values() and muxer_writes(muxer, spec)


def _expected_frames(source: VideoSource, window: Window) -> int | None:
    if window.start is None and window.end is None and source.frames:
        return source.frames
    if source.duration is None or not source.frame_rate:
        return None
    end = source.duration if window.end is None else min(window.end, source.duration)
    return max(0, round((end - (window.start or 0.0)) * source.frame_rate))


def _span(records: list[ChunkRecord], source: VideoSource, window: Window) -> Span | None:
    if window.start is None and window.end is None:
        return None
    tb = source.time_base
    start = float(records[0].first_pts * tb)
    end = float((records[-1].last_key + records[-1].last_duration) * tb)
    return Span(start, end, start)


def _job(
    source: VideoSource, spec: EncoderSpec, run_options: RunOptions, options: VideoOptions, model: ModelRef
) -> dict:
    """What makes two runs produce the same output: --resume only continues a run with the same."""
    stat = source.path.stat()
    return {
        "version": __version__,
        "input": {"path": str(source.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "model": model.identity,
        "run": vars(run_options),
        "temporal": options.temporal.identity(),
        "encoder": spec.describe(),
        "window": [options.start, options.end],
        "segment_frames": options.chunk_frames,  # the key earlier versions wrote: their work still resumes
    }


def _report_damage(name: str, source: VideoSource, window: Window, outcome: FinishedChunks) -> None:
    frames, damage = outcome.frames, outcome.damage
    if damage:
        log.warning("%s is damaged: %d packet%s could not be decoded; the %d frames that could were translated.",
                    name, damage, "" if damage == 1 else "s", frames)
    elif window == Window() and source.frames and frames < source.frames and _ends_early(source, outcome.records):
        log.warning("%s announces %d frames but only %d could be decoded (it may be truncated); those were "
                    "translated.", name, source.frames, frames)


def _ends_early(source: VideoSource, records: list[ChunkRecord]) -> bool:
    """Whether the decoded frames end before the stream's announced duration; an AVI also counts the frames
    it drops (empty index entries that hold the frame before longer), which take no time of their own."""
    if source.duration is None:
        return True
    last = records[-1]
    decoded = float((last.last_key + last.last_duration - records[0].first_pts) * source.time_base)
    return decoded < source.duration - 0.5 * float(last.last_duration * source.time_base)
