"""Encode translated frames into the closed chunks of the work folder, and read their packets back.

Every chunk has an encoder of its own, so it starts with a keyframe at a known frame and
needs nothing from the chunks before it. Its packets are kept exactly as the encoder made
them (data, pts, dts, keyframe flag, and the duration of the frame each one carries).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import numpy as np

from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.video.encode import EncoderSpec, new_encoder
from cyclegan_fx.video.frames import from_rgb
from cyclegan_fx.video.inference import Frame
from cyclegan_fx.video.work import ChunkRecord, WorkFolder

KIND = "video"


@dataclass(frozen=True)
class Stamp:
    """A decoded frame's timing, in the stream's time base."""

    pts: int
    duration: int


@dataclass(frozen=True)
class StoredPacket:
    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool


def write_chunks(
    frames: Iterator[Frame], work: WorkFolder, spec: EncoderSpec, muxer: str, chunk_frames: int,
    on_frame: Callable[[], None],
) -> None:
    """Encode ``frames`` (translated, in order) into chunks of ``chunk_frames``; the last may be shorter."""
    chunk: _Chunk | None = None
    for frame in frames:
        if chunk is None:
            chunk = _Chunk(work, frame.index // chunk_frames, spec, muxer)
        chunk.add(frame)
        on_frame()
        if frame.ends_chunk:
            chunk.close(frame)
            chunk = None


def read_packets(work: WorkFolder, index: int) -> Iterator[StoredPacket]:
    rows = work.arrays(KIND, index)["packets"]
    with work.file(KIND, index, ".packets").open("rb") as f:
        for pts, dts, duration, keyframe, size in rows.tolist():
            yield StoredPacket(f.read(size), pts, dts, duration, bool(keyframe))


class _Chunk:
    def __init__(self, work: WorkFolder, index: int, spec: EncoderSpec, muxer: str) -> None:
        self.work, self.index, self.spec = work, index, spec
        self.encoder = new_encoder(spec, muxer)
        self.target = work.file(KIND, index, ".packets")
        self.partial = temporary_sibling(self.target)
        self.file = self.partial.open("wb")
        self.rows: list[list[int]] = []
        self.durations: dict[int, int] = {}
        self.frames: list[Stamp] = []
        self.damage = 0

    def add(self, frame: Frame) -> None:
        stamp: Stamp = frame.stamp
        video_frame = from_rgb(frame.result, self.spec.pix_fmt, self.spec.matrix)
        video_frame.pts = stamp.pts
        video_frame.time_base = self.spec.time_base
        self.durations[stamp.pts] = stamp.duration
        self.frames.append(stamp)
        self.damage += frame.damage
        frame.result = None
        self._store(self.encoder.encode(video_frame))

    def close(self, last: Frame) -> None:
        """Flush the encoder and record the chunk as finished."""
        self._store(self.encoder.encode(None))
        self.file.close()
        os.replace(self.partial, self.target)
        record = ChunkRecord(
            frames=len(self.frames),
            damage=self.damage,
            last_key=self.frames[-1].pts,
            first_index=last.index + 1 - len(self.frames),
            first_pts=self.frames[0].pts,
            last_duration=self.frames[-1].duration,
            extradata=bytes(self.encoder.extradata or b"").hex(),
        )
        arrays = {"packets": np.array(self.rows, dtype=np.int64).reshape(-1, 5), "thumb": last.thumb, **last.state}
        self.work.finish(KIND, self.index, record, arrays)

    def _store(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            data = bytes(packet)
            self.file.write(data)
            duration = self.durations.pop(packet.pts, 0)
            self.rows.append([packet.pts, packet.dts, duration, int(packet.is_keyframe), len(data)])
