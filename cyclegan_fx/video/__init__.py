"""Translate video files and image sequences frame by frame through the shared runner."""

from __future__ import annotations

from pathlib import Path

from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.video.clip import Report, translate_video
from cyclegan_fx.video.config import EncodeSettings, Temporal, TemporalSettings, VideoOptions, parse_time
from cyclegan_fx.video.job import FrameProgressCallback
from cyclegan_fx.video.outputs import ModelRef
from cyclegan_fx.video.sequence import sequence_files, translate_sequence

__all__ = [
    "EncodeSettings",
    "ModelRef",
    "Report",
    "Temporal",
    "TemporalSettings",
    "VideoOptions",
    "parse_time",
    "translate",
    "translate_sequence",
    "translate_video",
]


def translate(
    source: str, runner: Runner, run_options: RunOptions, options: VideoOptions, model: ModelRef,
    output: Path | None = None, progress: FrameProgressCallback | None = None,
) -> Report:
    """A video file, or a folder or glob of numbered image frames."""
    files = sequence_files(source)
    if files is not None:
        return translate_sequence(source, files, runner, run_options, options, model, output, progress)
    return translate_video(Path(source).expanduser(), runner, run_options, options, model, output, progress)
