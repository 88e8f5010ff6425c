"""Translate an image sequence: a folder or glob of numbered frames into a folder of frames with the same
names, formats and bit depths, with the same temporal statistics, resuming and checks as a video file."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx import __version__
from cyclegan_fx.errors import ConfigError, ImageReadError, OutputError, VideoReadError
from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES, ImageMeta
from cyclegan_fx.runners.translate_file import read_image, write_image
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.video.clip import Report
from cyclegan_fx.video.config import VideoOptions
from cyclegan_fx.video.inference import Frame
from cyclegan_fx.video.job import STATS, FrameProgressCallback, Resume, keeping_finished_work, run_passes
from cyclegan_fx.video.outputs import ModelRef, check_target, default_output
from cyclegan_fx.video.scenecut import CutDetector, thumbnail
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

log = logging.getLogger("cyclegan_fx")

KIND = "frames"
_GLOB_CHARS = set("*?[")
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class FrameFile:
    position: int  # in the sorted list of input files
    name: str
    meta: ImageMeta


def sequence_files(arg: str) -> list[Path] | None:
    """The image files of a folder or glob, in frame-number order; None if ``arg`` names no folder or glob."""
    path = Path(arg).expanduser()
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
    elif _GLOB_CHARS & set(arg) and not path.exists():
        files = [Path(p) for p in glob.glob(os.path.expanduser(arg)) if Path(p).is_file()]
    else:
        return None
    images = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")]
    return sorted(images, key=_frame_order)


def translate_sequence(
    arg: str, files: list[Path], runner: Runner, run_options: RunOptions, options: VideoOptions, model: ModelRef,
    output: Path | None = None, progress: FrameProgressCallback | None = None,
) -> Report:
    """Translate the frames ``files`` (of the folder or glob ``arg``) into a folder of frames."""
    if not files:
        raise VideoReadError(f"{arg} holds no image frames (JPEG, PNG, TIFF, WebP or BMP).")
    if len({f.name for f in files}) != len(files):
        raise ConfigError(f"The frames of {arg} come from several folders and share names; "
                          "translate one folder at a time.")
    if options.start is not None or options.end is not None or not options.encode.is_default:
        raise ConfigError("--start, --end, --codec, --crf, --preset and --pix-fmt apply to video files, "
                          "not to image sequences.")
    source = Path(arg).expanduser()
    output = output or default_output(source if source.is_dir() else files[0].parent, model, "")
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file; the frames of a sequence go into a folder.")
    check_target(output, options.overwrite)
    work = WorkFolder.prepare(output, _job(files, run_options, options, model), options.resume)
    sequence = ImageSequence(files, work.path / "frames", run_options)
    with keeping_finished_work(work, (STATS, KIND)):
        outcome = run_passes(sequence, runner, run_options, options, work, progress)
        _deliver(sequence.folder, output, options.overwrite)
    work.remove()
    if outcome.damage:
        log.warning("%d frame%s of %s could not be read and %s left out; the other %d were translated.",
                    outcome.damage, "" if outcome.damage == 1 else "s", arg,
                    "was" if outcome.damage == 1 else "were", outcome.frames)
    return Report(output, outcome.frames, outcome.damage)


class ImageSequence:
    """The Medium of an image sequence."""

    kind = KIND

    def __init__(self, files: list[Path], folder: Path, options: RunOptions) -> None:
        self.files = files
        self.folder = folder  # translated frames collect here, inside the work folder
        self.options = options  # its max_pixels refuses a frame before it is decoded
        self.expected_frames = len(files)

    def frames(self, resume: Resume | None, cut_threshold: float) -> Iterator[Frame]:
        """The readable frames; each counts the unreadable files before it, the last also those after it."""
        detector = CutDetector(cut_threshold, resume.thumb if resume else None)
        index = resume.index if resume else 0
        damage = 0
        pending: Frame | None = None
        for position in range((resume.key + 1) if resume else 0, len(self.files)):
            path = self.files[position]
            try:
                image = read_image(path, self.options)
            except ImageReadError as exc:
                log.warning("%s", exc)
                damage += 1
                continue
            if pending is not None:
                yield pending
            thumb = thumbnail(image.pixels)
            stamp = FrameFile(position, path.name, image.meta)
            pending = Frame(index, image.pixels, thumb, detector(thumb), damage, stamp)
            index += 1
            damage = 0
        if pending is not None:
            pending.damage += damage
            yield pending

    def resume_key(self, frame: Frame) -> int:
        return frame.stamp.position

    def write(
        self, frames: Iterator[Frame], work: WorkFolder, chunk_frames: int, on_frame: Callable[[], None]
    ) -> None:
        self.folder.mkdir(exist_ok=True)
        count = damage = 0
        for frame in frames:
            stamp: FrameFile = frame.stamp
            write_image(self.folder / stamp.name, frame.result, stamp.meta, overwrite=True)
            frame.result = None
            count += 1
            damage += frame.damage
            on_frame()
            if frame.ends_chunk:
                record = ChunkRecord(frames=count, damage=damage, last_key=stamp.position)
                work.finish(KIND, frame.index // chunk_frames, record, {"thumb": frame.thumb, **frame.state})
                count = damage = 0


def _deliver(frames: Path, output: Path, overwrite: bool) -> None:
    """Move the finished folder of frames into place; an existing one is replaced only with ``overwrite``."""
    frames.mkdir(exist_ok=True)
    old = None
    if output.exists():
        if not overwrite:
            raise OutputError(f"{output} appeared while the frames were translated; nothing was replaced.")
        old = temporary_sibling(output)
        os.replace(output, old)
    os.replace(frames, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _frame_order(path: Path) -> tuple:
    """Natural order: frame2 before frame10."""
    return tuple(int(part) if part.isdigit() else part for part in _NUMBER.split(path.name))


def _job(files: list[Path], run_options: RunOptions, options: VideoOptions, model: ModelRef) -> dict:
    listing = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return {
        "version": __version__,
        "frames": hashlib.sha256(json.dumps(listing).encode()).hexdigest(),
        "model": model.identity,
        "run": vars(run_options),
        "temporal": options.temporal.identity(),
        "segment_frames": options.chunk_frames,  # the key earlier versions wrote: their work still resumes
    }
