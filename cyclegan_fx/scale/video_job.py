"""``video --ray``: a clip's chunks translated by Ray actors, each holding a warm runner, then joined in order
by the single-process job's own join (sound, subtitles, timing, colour tags, rotation and metadata as there).

The clip, the output and the work folder (beside the output, or in the folder ``work``) are each on a path
every node sees (this machine, or a shared folder) or on an object store (video_store.py). The driver reads
the clip itself too: it lists the frames and copies the other streams into the output.
Finished chunks stay in the work folder: a run with --resume translates only the others. A lost actor or node
is Ray's to retry; a chunk that fails for a reason of its own stops the job with its one sentence.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
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
from cyclegan_fx.scale.model_files import ModelFiles
from cyclegan_fx.scale.storage import Location, is_uri, local_copy, locate, object_stamp
from cyclegan_fx.scale.video_plan import ChunkTask, Shots, frame_stamps, lead_in_frames, plan_chunks
from cyclegan_fx.scale.video_store import RayPlace, work_location
from cyclegan_fx.scale.video_worker import ChunkOutcome, ChunkSettings, ChunkTranslator, describe
from cyclegan_fx.video.chunks import KIND
from cyclegan_fx.video.clip import Report, VideoClip, output_for, produce_video
from cyclegan_fx.video.config import Temporal, VideoOptions
from cyclegan_fx.video.job import STATS, FinishedChunks, FrameProgressCallback
from cyclegan_fx.video.outputs import ModelRef
from cyclegan_fx.video.probe import probe
from cyclegan_fx.video.temporal import ShotSums, pooled, shots_from_arrays
from cyclegan_fx.video.work import WorkFolder

log = logging.getLogger("cyclegan_fx")

CHUNKS_AT_ONCE = 1  # chunks an actor translates at once: a chunk keeps its own decode and encode threads busy
RELEASE_SECONDS = 10  # how long the actors get to delete their copies of a clip from an object store


@dataclass(frozen=True)
class RayPlacement:
    address: str | None = None  # a Ray cluster to join; None: a local runtime for this job
    actors: int | None = None  # None: one per GPU, else one per ``threads`` CPUs
    threads: int | None = None  # CPUs per actor


def translate_video_on_ray(
    clip: str | Path, model: str, direction: str, device: str, precision: str, backend: str, run_options: RunOptions,
    options: VideoOptions, ray: RayPlacement, output: str | Path | None = None,
    progress: FrameProgressCallback | None = None, work: str | None = None,
) -> Report:
    """Translate the video file ``clip`` as ``video`` does, its chunks spread over Ray actors. ``clip``, ``output``
    and ``work`` (the folder to keep the work folder in; default: beside the output) are paths or URIs."""
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.scale.model_files import pack_model

    require_extra("ray", "video --ray needs Ray")
    resolved = resolve_model(model)
    resolved.direction(direction)
    files = pack_model(resolved, direction)
    lead_in = lead_in_frames(options.temporal)
    model_ref = ModelRef(resolved.name, direction, f"{files.digest}:{direction}:{device}:{precision}:{backend}")
    source = _located(str(clip))
    given = _located(str(output)) if output is not None else None
    with local_copy(source, VideoReadError) as path, tempfile.TemporaryDirectory(prefix="cyclegan-fx-") as staging:
        job = {"ray": {"lead_in": lead_in}, **({} if source.is_local else {"input": object_stamp(source)})}
        target = _target(source, path, given, options, model_ref)
        place = RayPlace(target, work_location(target, work), Path(staging), source, path)
        chunks = _ChunkJob(ray, files, source, place.work, run_options, options, direction, device, precision,
                           backend, lead_in, progress)
        report = produce_video(path, run_options, options, model_ref, place.local_output(), chunks.passes, job,
                               place)
    return report if target.is_local else dataclasses.replace(report, output=target.text)


def _located(text: str) -> Location:
    """A URI as it is; a path absolute, with its links resolved, as ``video`` names files."""
    return locate(text) if is_uri(text) else locate(str(Path(text).expanduser().resolve()))


def _target(clip: Location, local_clip: Path, given: Location | None, options: VideoOptions,
            model: ModelRef) -> Location:
    """The output file: the one given, else in the folder given or beside the clip, named as ``video`` names it."""
    if given is not None and given.kind() != "folder":
        return given
    name = output_for(local_clip, probe(local_clip), options, model, None).name
    return (given or clip.parent()).child(name)


@dataclass(frozen=True)
class _ChunkJob:
    """What the passes of a job need besides the clip as the driver reads it and the work folder."""

    ray: RayPlacement
    files: ModelFiles
    clip: Location  # as the workers read it
    work: Location
    run_options: RunOptions
    options: VideoOptions
    direction: str
    device: str
    precision: str
    backend: str
    lead_in: int
    progress: FrameProgressCallback | None

    def passes(self, clip: VideoClip, work: WorkFolder) -> FinishedChunks:
        """Translate the clip's chunks on Ray actors into the work folder."""
        with ray_runtime(self.ray.address):
            placement = plan_placement(self.device, self.ray.actors, self.ray.threads)
            settings = self._settings(clip, placement)
            started = time.monotonic()
            workers = start_workers(placement, settings, self.files, ChunkTranslator, CHUNKS_AT_ONCE)
            log.info("%d worker(s) ready in %.1f s.", placement.actors, time.monotonic() - started)
            try:
                finished = _run_chunks(clip, work, workers, settings, self.options, self.lead_in, self.progress)
                _release(workers, self.clip)
                return finished
            finally:
                workers.stop()

    def _settings(self, clip: VideoClip, placement: Placement) -> ChunkSettings:
        # ``auto`` made explicit: a CPU worker on a GPU node must not take a GPU that Ray did not give it.
        device = self.device if self.device != "auto" else "cuda" if placement.gpus else "cpu"
        threads = None if placement.gpus else int(placement.cpus)
        return ChunkSettings(self.work, self.clip, clip.source, clip.window, clip.spec, clip.muxer, self.run_options,
                             self.options.temporal, self.options.frame_batch, self.options.chunk_frames,
                             self.direction, device, self.precision, self.backend, threads)


def _release(workers: Workers, clip: Location) -> None:
    """The actors delete their copies of a clip from an object store. Only at a job's ordinary end: a failed
    or interrupted job stops its actors at once, and their copies stay in the nodes' temporary folders."""
    import ray
    from ray.exceptions import RayError

    if clip.is_local:
        return
    try:
        ray.get([actor.release.remote() for actor in workers.actors], timeout=RELEASE_SECONDS)
    except RayError as exc:  # a busy or lost actor keeps its copy; the job's outcome stands
        log.debug("Not every worker deleted its copy of %s: %s", clip.text, exc)


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
