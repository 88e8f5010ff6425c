"""``video --ray``: a clip's chunks translated by Ray actors, each holding a warm runner, then joined in order
by the single-process job's own join (sound, subtitles, timing, colour tags, rotation and metadata as there).

The work folder lies beside the output, on a path every node must see (this machine, or a shared folder).
Finished chunks stay there: a run with --resume translates only the others. A lost actor or node is Ray's
to retry; a chunk that fails for a reason of its own stops the job with its one sentence.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.errors import CycleganFxError, VideoReadError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.scale.cluster import (
    Placement,
    Workers,
    feed,
    lost_reason,
    plan_placement,
    ray_runtime,
    start_workers,
)
from cyclegan_fx.scale.video_plan import ChunkTask, Shots, frame_stamps, lead_in_frames, plan_chunks
from cyclegan_fx.scale.video_worker import ChunkOutcome, ChunkSettings, ChunkTranslator, describe
from cyclegan_fx.video.chunks import KIND
from cyclegan_fx.video.clip import Report, VideoClip, produce_video
from cyclegan_fx.video.config import Temporal, VideoOptions
from cyclegan_fx.video.job import STATS, FinishedChunks, FrameProgressCallback
from cyclegan_fx.video.outputs import ModelRef
from cyclegan_fx.video.temporal import ShotSums, pooled, shots_from_arrays
from cyclegan_fx.video.work import WorkFolder

log = logging.getLogger("cyclegan_fx")

CHUNKS_AT_ONCE = 1  # chunks an actor translates at once: a chunk keeps its own decode and encode threads busy


@dataclass(frozen=True)
class RayPlacement:
    address: str | None = None  # a Ray cluster to join; None: a local runtime for this job
    actors: int | None = None  # None: one per GPU, else one per ``threads`` CPUs
    threads: int | None = None  # CPUs per actor


def translate_video_on_ray(
    path: Path, model: str, direction: str, device: str, precision: str, backend: str, run_options: RunOptions,
    options: VideoOptions, ray: RayPlacement, output: Path | None = None,
    progress: FrameProgressCallback | None = None,
) -> Report:
    """Translate the video file ``path`` as ``video`` does, its chunks spread over Ray actors."""
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.scale.model_files import pack_model

    require_extra("ray", "video --ray needs Ray")
    resolved = resolve_model(model)
    resolved.direction(direction)
    files = pack_model(resolved, direction)
    lead_in = lead_in_frames(options.temporal)
    identity = f"{files.digest}:{direction}:{device}:{precision}:{backend}"

    def passes(clip: VideoClip, work: WorkFolder) -> FinishedChunks:
        with ray_runtime(ray.address):
            placement = plan_placement(device, ray.actors, ray.threads)
            settings = _settings(clip, work, run_options, options, direction, device, precision, backend,
                                 placement)
            started = time.monotonic()
            workers = start_workers(placement, settings, files, ChunkTranslator, CHUNKS_AT_ONCE)
            log.info("%d worker(s) ready in %.1f s.", placement.actors, time.monotonic() - started)
            try:
                return _run_chunks(clip, work, workers, settings, options, lead_in, progress)
            finally:
                workers.stop()

    where = path.expanduser().resolve()
    return produce_video(where, run_options, options, ModelRef(resolved.name, direction, identity),
                         output.resolve() if output is not None else None, passes, {"ray": {"lead_in": lead_in}})


def _settings(clip: VideoClip, work: WorkFolder, run_options: RunOptions, options: VideoOptions, direction: str,
              device: str, precision: str, backend: str, placement: Placement) -> ChunkSettings:
    # ``auto`` made explicit: a CPU worker on a GPU node must not take a GPU that Ray did not give it.
    device = device if device != "auto" else "cuda" if placement.gpus else "cpu"
    threads = None if placement.gpus else int(placement.cpus)
    return ChunkSettings(work.path.resolve(), clip.source, clip.window, clip.spec, clip.muxer, run_options,
                         options.temporal, options.frame_batch, options.chunk_frames, direction, device, precision,
                         backend, threads)


def _run_chunks(clip: VideoClip, work: WorkFolder, workers: Workers, settings: ChunkSettings, options: VideoOptions,
                lead_in: int, progress: FrameProgressCallback | None) -> FinishedChunks:
    stamps = frame_stamps(clip.source, clip.window)
    if not stamps:
        where = " between --start and --end" if options.start is not None or options.end is not None else ""
        raise VideoReadError(f"There are no frames to translate{where}.")
    shot = options.temporal.mode is Temporal.SHOT
    counter = _Counter(progress, len(stamps) * (2 if shot else 1))
    tasks = plan_chunks(KIND, stamps, options.chunk_frames, lead_in)
    if shot:
        first_pass = plan_chunks(STATS, stamps, options.chunk_frames, 0)
        _run(first_pass, work, workers, settings, counter)
        tasks = _with_shots(tasks, first_pass, work)
    _run(tasks, work, workers, settings, counter)
    records = work.finished(KIND)
    return FinishedChunks(records, sum(r.frames for r in records), sum(r.damage for r in records))


def _run(tasks: list[ChunkTask], work: WorkFolder, workers: Workers, settings: ChunkSettings,
         counter: _Counter) -> None:
    """Translate the chunks of ``tasks`` that are not finished yet; the first failure stops the job."""
    done = work.done(tasks[0].kind)
    counter.add(sum(t.end - t.first for t in tasks if t.index in done))
    todo = {(t.kind, t.index): t for t in tasks if t.index not in done}
    if not todo:
        return
    log.info("Translating %d of %d chunk(s)%s.", len(todo), len(tasks),
             " (first pass: statistics per shot)" if tasks[0].kind == STATS else "")

    def lost(task: ChunkTask, exc: Exception) -> ChunkOutcome:
        return ChunkOutcome(task.kind, task.index, "failed", lost_reason(describe(task, settings), exc))

    started = time.monotonic()
    for outcome in feed(workers, list(todo.values()), lost):
        if outcome.status == "failed":
            raise CycleganFxError(outcome.reason)
        task = todo[(outcome.kind, outcome.index)]
        counter.add(task.end - task.first)
        log.debug("Chunk %d (%s) %s in %.2f s.", outcome.index, outcome.kind, outcome.status, outcome.seconds)
    log.info("Translated the chunk(s) in %.1f s.", time.monotonic() - started)


def _with_shots(tasks: list[ChunkTask], first_pass: list[ChunkTask], work: WorkFolder) -> list[ChunkTask]:
    """The second pass's tasks, each with the cuts of the clip and the statistics of the shots it holds.

    A first-pass chunk numbers its shots from its own start (-1: the shot that began before it); adding the
    number of cuts before the chunk makes them the clip's.
    """
    records = work.finished(STATS)
    cuts = tuple(cut for record in records for cut in record.cuts)
    pieces: list[dict[int, ShotSums]] = []
    for task, _ in zip(first_pass, records, strict=True):
        before = sum(1 for cut in cuts if cut < task.first)
        local = shots_from_arrays(work.arrays(STATS, task.index))
        pieces.append({before + shot: sums for shot, sums in local.items()})
    stats = pooled(pieces)
    chunked = []
    for task in tasks:
        first_shot = sum(1 for cut in cuts if cut <= task.first) - 1
        last_shot = sum(1 for cut in cuts if cut < task.end) - 1
        held = {shot: stats[shot] for shot in range(first_shot, last_shot + 1)}
        chunked.append(dataclasses.replace(task, shots=Shots(cuts, held)))
    return chunked


class _Counter:
    """Frames in finished chunks over both passes, for the progress callback."""

    def __init__(self, callback: FrameProgressCallback | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def add(self, frames: int) -> None:
        self.done += frames
        if self.callback is not None:
            self.callback(self.done, self.total)
