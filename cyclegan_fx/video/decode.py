"""Decode the frames of a video stream in order, with their own timestamps, skipping damaged packets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

from cyclegan_fx.video.probe import VideoSource, open_input, video_stream

log = logging.getLogger("cyclegan_fx")


@dataclass(frozen=True)
class Window:
    """The part of a clip to translate, in seconds of presentation time; None: from the start / to the end."""

    start: float | None = None
    end: float | None = None

    def contains(self, seconds: float) -> bool:
        return (self.start is None or seconds >= self.start) and (self.end is None or seconds < self.end)


@dataclass(frozen=True)
class ResumePoint:
    """Where decoding picks up: after the frame with ``after_pts``, numbering from ``index``."""

    index: int
    after_pts: int


@dataclass
class Decoded:
    index: int
    frame: av.VideoFrame
    pts: int
    duration: int
    damage: int  # packets that failed to decode since the previous frame (the last frame: also after it)


def decode(source: VideoSource, window: Window = Window(), resume: ResumePoint | None = None) -> Iterator[Decoded]:
    """Frames inside ``window`` in presentation order, numbered from 0 at the window's start.

    With ``resume``, decoding seeks back to the last finished frame and goes on after it; where the
    seek cannot find that frame, it decodes from the start and skips the finished ones.
    """
    if resume is not None:
        frames = _decode_from(source, window, resume.after_pts)
        landed = next(frames, None)
        if landed is not None and landed.pts == resume.after_pts:
            for decoded in frames:
                decoded.index += resume.index - 1
                yield decoded
            return
        frames.close()
        log.debug("Seeking to frame %d missed it; decoding from the start instead.", resume.index)
    for decoded in _decode_from(source, window, None):
        if resume is None or decoded.index >= resume.index:
            yield decoded


def _decode_from(source: VideoSource, window: Window, seek_pts: int | None) -> Iterator[Decoded]:
    """Frames from ``seek_pts`` (or the window's start) on, numbered from 0.

    A frame lasts until the next one starts; the last one as long as its packet says, and it also
    counts the damage after it.
    """
    damage = _Tally()
    pending: Decoded | None = None
    for decoded in _stamped(source, window, seek_pts, damage):
        if pending is not None:
            pending.duration = decoded.pts - pending.pts
            yield pending
        pending = decoded
    if pending is not None:
        pending.damage += damage.take()
        yield pending


class _Tally:
    """Packets that failed to decode and are not yet reported with a frame."""

    def __init__(self) -> None:
        self.count = 0

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def _stamped(source: VideoSource, window: Window, seek_pts: int | None, damage: _Tally) -> Iterator[Decoded]:
    with open_input(source.path) as container:
        stream = video_stream(container, source.path)
        time_base = stream.time_base or source.time_base
        if seek_pts is None and window.start:
            seek_pts = int(window.start / time_base)
        if seek_pts is not None:
            _seek(container, stream, seek_pts)
        clock = _Clock(time_base, source.frame_rate)
        index = 0
        for frame, failed in _frames(container, stream, clock.durations):
            damage.count += failed
            if frame is None:
                continue
            pts, duration = clock.stamp(frame)
            seconds = float(pts * time_base)
            if window.end is not None and seconds >= window.end:
                break
            if (seek_pts is not None and pts < seek_pts) or not window.contains(seconds):
                continue
            yield Decoded(index, frame, pts, duration, damage.take())
            index += 1


def _seek(container, stream, pts: int) -> None:
    try:
        container.seek(pts, stream=stream, backward=True)
    except av.error.FFmpegError:
        log.debug("The input cannot seek; decoding from its start.")


def _frames(container, stream, durations: dict[int, int]) -> Iterator[tuple[av.VideoFrame | None, int]]:
    """Decoded frames, each with the number of packets that failed just before it (None: only a failure).

    ``durations`` collects each packet's duration by pts, for the last frame: a decoder reports the
    duration of the packet it decoded last, which B-frames put in another order.
    """
    try:
        for packet in container.demux(stream):  # the last, empty packet flushes the decoder
            if packet.pts is not None and packet.duration:
                durations[packet.pts] = packet.duration
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                yield None, 1
                continue
            for frame in decoded:
                yield frame, 0
        return
    except av.error.FFmpegError:
        yield None, 1  # the file ends in damaged or truncated data: keep what decoded, and what is buffered
    try:
        for frame in stream.decode(None):
            yield frame, 0
    except av.error.FFmpegError:
        pass


class _Clock:
    """Each frame's pts and duration; fills gaps where a container gives none, and keeps pts increasing."""

    def __init__(self, time_base: Fraction, rate: Fraction | None) -> None:
        self.nominal = max(1, round(1 / (rate * time_base))) if rate else 1
        self.last: int | None = None
        self.durations: dict[int, int] = {}  # packet durations by pts, filled while demuxing

    def stamp(self, frame: av.VideoFrame) -> tuple[int, int]:
        pts = frame.pts
        duration = self.durations.pop(pts, None) if pts is not None else None
        if pts is None:
            pts = 0 if self.last is None else self.last + self.nominal
        if self.last is not None and pts <= self.last:
            pts = self.last + 1
        self.last = pts
        return pts, duration or frame.duration or self.nominal
