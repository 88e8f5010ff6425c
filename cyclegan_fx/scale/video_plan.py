"""Split a clip into the chunks of ``video --ray``: the same chunks as the single-process job, each a task of
its own that an actor can start anywhere in the clip.

A chunk of ``--temporal smooth`` translates a lead-in of the frames before it and keeps none of them: the
moving average forgets where it started geometrically, and a cut inside the lead-in restarts it exactly as in
the sequential run. The first norm's carried statistics weigh the frames before the lead-in by
``momentum ** lead_in <= LEAD_IN_WEIGHT``; deeper norms forget more slowly, because each one measures a frame
with the smoothed statistics of the norms before it, so the weight is set far below the tolerance that
matters. Measured with the vintage generator (tests/test_video_lead_in.py, README): at momentum 0.7 (26
frames) every norm's statistics at the chunk's first frame are within 2% of their largest value of the
sequential run's, and the frame itself at 59 dB (36 dB without a lead-in); at the default 0.9 (88 frames),
53 dB (28 dB without).
The cost: ``lead_in`` extra frames translated per chunk, 35% of a default chunk of 250 at momentum 0.9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cyclegan_fx.errors import VideoReadError
from cyclegan_fx.video.config import Temporal, TemporalSettings
from cyclegan_fx.video.decode import Window
from cyclegan_fx.video.probe import VideoSource, open_input, video_stream
from cyclegan_fx.video.temporal import StatsByNorm

LEAD_IN_WEIGHT = 1e-4  # weight the first norm's statistics keep of the frames before the lead-in


@dataclass(frozen=True)
class Shots:
    """The first pass's result that a chunk of ``--temporal shot`` needs: every cut, and its shots' statistics."""

    cuts: tuple[int, ...]  # the first frame of every shot of the clip
    stats: dict[int, StatsByNorm]  # by shot number, only the shots the chunk holds


@dataclass(frozen=True)
class ChunkTask:
    """Chunk ``index``: frames ``first`` to ``end`` (excluded) of the job, the first and last at these pts."""

    kind: str  # which pass: the translating one, or the first pass of --temporal shot
    index: int
    first: int
    end: int
    first_pts: int
    last_pts: int
    lead_in: int  # frames before ``first`` translated for the statistics only
    after_pts: int | None  # pts of the frame before the first one decoded (None: decode from the start)
    shots: Shots | None = None

    @property
    def decode_from(self) -> int:
        """The first frame decoded: one before the lead-in, so that its first frame's cut flag is the true one."""
        return max(0, self.first - self.lead_in - 1)


def lead_in_frames(temporal: TemporalSettings) -> int:
    """Frames each chunk translates before its own so that what it carries from frame to frame (smoothed
    statistics; with flow also the blended history, whose weight falls at least by ``consistency`` a frame)
    starts as the sequential run's: until the frames it never saw weigh LEAD_IN_WEIGHT."""
    carried = {Temporal.SMOOTH: (temporal.momentum,), Temporal.FLOW: (temporal.momentum, temporal.consistency)}
    weights = [w for w in carried.get(temporal.mode, ()) if w > 0.0]
    return max((math.ceil(math.log(LEAD_IN_WEIGHT) / math.log(w)) for w in weights), default=0)


def frame_stamps(source: VideoSource, window: Window) -> list[int]:
    """The pts of every frame inside ``window``, in presentation order, from the packets alone (no decoding)."""
    with open_input(source.path) as container:
        stream = video_stream(container, source.path)
        time_base = stream.time_base or source.time_base
        stamps = []
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if packet.pts is None:
                raise VideoReadError(f"The video packets of {source.path} carry no timestamps, so it cannot be "
                                     "split between workers; translate it without --ray.")
            stamps.append(packet.pts)
    return [pts for pts in sorted(stamps) if window.contains(float(pts * time_base))]


def plan_chunks(kind: str, stamps: list[int], chunk_frames: int, lead_in: int) -> list[ChunkTask]:
    """One task per chunk of ``chunk_frames`` frames, as the single-process job cuts them."""
    tasks = []
    for index, first in enumerate(range(0, len(stamps), chunk_frames)):
        lead = min(lead_in, first)
        start = max(0, first - lead - 1)  # the first frame decoded
        after = stamps[start - 1] if start else None
        end = min(first + chunk_frames, len(stamps))
        tasks.append(ChunkTask(kind, index, first, end, stamps[first], stamps[end - 1], lead, after))
    return tasks
