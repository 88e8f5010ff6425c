"""Open a video file and describe it: its video stream, colour, rotation, timing and the other streams.

Every way an input can be unusable ends here in one sentence (a VideoReadError), before
any output exists.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error

from cyclegan_fx.errors import VideoReadError
from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES
from cyclegan_fx.video.colour import RANGE_FULL, RANGE_UNSPECIFIED, ColourTags, YuvMatrix, yuv_matrix
from cyclegan_fx.video.frames import bit_depth, subsampling

_IMAGE_DEMUXERS = ("image2", "_pipe")


@dataclass(frozen=True)
class VideoSource:
    """What the rest of the video code needs to know about an input file."""

    path: Path
    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    stream_index: int
    codec: str  # decoder name, e.g. "h264"
    width: int
    height: int
    pix_fmt: str
    bits: int
    chroma: tuple[int, int]  # subsampling factors: (2, 2) for 4:2:0
    time_base: Fraction
    frame_rate: Fraction | None  # average rate; None when the container does not say
    frames: int  # from the header; 0 when unknown
    duration: float | None  # seconds
    tags: ColourTags
    rotation: int  # degrees, as the display matrix says
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def matrix(self) -> YuvMatrix:
        return yuv_matrix(self.tags, self.width, self.height, self.pix_fmt)


def probe(path: Path) -> VideoSource:
    """Describe ``path``, decoding its first frame, or raise a VideoReadError that says what is wrong."""
    with open_input(path) as container:
        stream = video_stream(container, path)
        first = _first_frame(container, stream, path)
        cc = stream.codec_context
        fmt = first.format
        tags = ColourTags(
            cc.colorspace if cc.colorspace != 2 else first.colorspace,
            cc.color_range or first.color_range,
            cc.color_primaries if cc.color_primaries != 2 else first.color_primaries,
            cc.color_trc if cc.color_trc != 2 else first.color_trc,
        )
        if tags.range == RANGE_UNSPECIFIED and fmt.name.startswith("yuvj"):
            tags = ColourTags(tags.matrix, RANGE_FULL, tags.primaries, tags.transfer)
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        return VideoSource(
            path=path,
            container=container.format.name,
            stream_index=stream.index,
            codec=cc.name,
            width=first.width,
            height=first.height,
            pix_fmt=fmt.name,
            bits=bit_depth(fmt),
            chroma=subsampling(fmt) if len(fmt.components) >= 3 and not fmt.is_rgb else (1, 1),
            time_base=stream.time_base or Fraction(1, 90000),
            frame_rate=stream.average_rate or stream.guessed_rate,
            frames=stream.frames or 0,
            duration=duration,
            tags=tags,
            rotation=int(round(first.rotation)),
            metadata=dict(container.metadata),
        )


@contextlib.contextmanager
def open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """Open a video file for reading, turning FFmpeg's failures into one sentence."""
    _check_file(path)
    try:
        container = av.open(os.fspath(path), "r")
    except av.error.FFmpegError as exc:
        raise VideoReadError(f"Cannot read {path}: it is not a video file, or it is damaged or truncated.") from exc
    try:
        if any(token in container.format.name for token in _IMAGE_DEMUXERS):
            raise VideoReadError(f"{path} is a still image, not a video; translate it with cyclegan-fx apply.")
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream that is not a cover picture, with threaded decoding."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            if stream.codec_context is None:
                raise _undecodable(path, "no decoder for its video codec is available")
            stream.codec_context.thread_type = "AUTO"
            return stream
    raise VideoReadError(f"{path} has no video stream.")


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise VideoReadError(f"Cannot read {path}: no such file.") from None
    except OSError as exc:
        raise VideoReadError(f"Cannot read {path}: {exc.strerror.lower()}.") from exc
    if path.is_dir():
        raise VideoReadError(f"Cannot read {path}: it is a folder with no numbered image frames.")
    if info.st_size == 0:
        raise VideoReadError(f"Cannot read {path}: the file is empty.")
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        raise VideoReadError(f"{path} is a still image, not a video; translate it with cyclegan-fx apply.")
    if not os.access(path, os.R_OK):
        raise VideoReadError(f"Cannot read {path}: permission denied.")


def _undecodable(path: Path, reason: str) -> VideoReadError:
    return VideoReadError(f"Cannot read {path}: {reason}; convert it to MP4 or MKV with another program "
                          f"(for example ffmpeg -i {path.name} {path.stem}.mp4) and translate that.")


def _first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        stream.codec_context.open()
    except av.error.FFmpegError as exc:  # e.g. Theora whose setup header this FFmpeg's decoder rejects
        reason = (exc.strerror or "it fails").lower()
        raise _undecodable(path, f"FFmpeg here cannot decode its {stream.codec_context.name} video ({reason})") \
            from exc
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.error.InvalidDataError:
                continue
    except av.error.FFmpegError as exc:
        raise VideoReadError(f"Cannot read {path}: {exc.strerror or 'the file is damaged'}.") from exc
    raise VideoReadError(f"{path} has no decodable video frames.")
