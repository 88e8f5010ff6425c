"""``cyclegan-fx video``: translate a video file or an image sequence frame by frame."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import click

from cyclegan_fx.cli.options import model_options, run_options
from cyclegan_fx.video.config import Temporal, TemporalSettings, VideoOptions

log = logging.getLogger("cyclegan_fx")
_TEMPORAL, _VIDEO = TemporalSettings(), VideoOptions()


class TimeType(click.ParamType):
    """Seconds, or HH:MM:SS(.ms)."""

    name = "TIME"

    def convert(self, value, param, ctx):
        from cyclegan_fx.errors import ConfigError
        from cyclegan_fx.video.config import parse_time

        if isinstance(value, float):
            return value
        try:
            return parse_time(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


class _RenamedOption(click.Option):
    """An option that still takes its former names, which --help no longer shows, so old scripts keep working."""

    def __init__(self, *args, former: tuple[str, ...], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.former = former

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown = copy.copy(self)
        shown.opts = [name for name in self.opts if name not in self.former]
        return super(_RenamedOption, shown).get_help_record(ctx)


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("-o", "--output",
              help="Output file, or a folder to put it in (for an image sequence: the folder of frames); with --ray "
                   "also a URI (s3://, gs://, file://). Default: INPUT-MODEL-DIRECTION beside the input.")
@model_options
@run_options
@click.option("--temporal", type=click.Choice([t.value for t in Temporal]), default=_TEMPORAL.mode.value,
              show_default=True,
              help="Normalization statistics across frames: smooth (moving average, reset at cuts), "
                   "shot (one set per shot, two passes) or off (per frame; flickers); flow: smooth, and the "
                   "previous output carried along the optical flow where it holds.")
@click.option("--smoothing", type=click.FloatRange(0.0, 1.0, max_open=True), default=_TEMPORAL.momentum,
              show_default=True, help="Weight of the earlier frames' statistics in --temporal smooth.")
@click.option("--consistency", type=click.FloatRange(0.0, 1.0, max_open=True), default=_TEMPORAL.consistency,
              show_default=True, help="Weight of the previous output carried along the flow in --temporal flow.")
@click.option("--cut-threshold", type=click.FloatRange(0.0, 1.0, min_open=True), default=_TEMPORAL.cut_threshold,
              show_default=True, help="Difference of consecutive thumbnails (0..1) that counts as a scene cut.")
@click.option("--codec", default="auto", show_default=True,
              help="auto (the input's codec where the output format holds it, else H.264), "
                   "h264, hevc, prores, ffv1, vp9 or av1.")
@click.option("--crf", type=click.IntRange(0, 63), default=None, help="Quality for h264/hevc/vp9/av1 (default 18).")
@click.option("--preset", default=None, help="Encoder speed preset (x264/x265: ultrafast..veryslow).")
@click.option("--pix-fmt", default=None, help="Output pixel format, e.g. yuv420p10le. Default: like the input.")
@click.option("--start", type=TimeType(), default=None, help="Translate from this time on (seconds or HH:MM:SS).")
@click.option("--end", type=TimeType(), default=None, help="Translate up to this time.")
@click.option("--chunk", "--segment", "chunk_frames", cls=_RenamedOption, former=("--segment",),
              envvar=["CYCLEGAN_FX_VIDEO_CHUNK_FRAMES", "CYCLEGAN_FX_VIDEO_SEGMENT_FRAMES"],  # the new name first
              type=click.IntRange(min=1), default=_VIDEO.chunk_frames, show_default=True,
              help="Frames per resumable chunk; each starts with a keyframe.")
@click.option("--frame-batch", type=click.IntRange(min=1), default=_VIDEO.frame_batch, show_default=True,
              help="Frames translated together in one runner call.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run of the same command.")
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
@click.option("--ray", "use_ray", is_flag=True,
              help="Translate the chunks on Ray workers (a video file on a path every node sees, or a URI: s3://, "
                   "gs://, file://; the ray extra).")
@click.option("--address", default=None,
              help="With --ray: the cluster to join, 'auto' or HOST:6379. Default: a Ray runtime started here.")
@click.option("--actors", type=click.IntRange(min=1), default=None,
              help="With --ray: workers, each holding the model once. "
                   "Default: one per GPU, else one per --threads CPUs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="With --ray: CPUs per worker. Default: 1 per GPU worker, 4 per CPU worker.")
@click.option("--work", default=None,
              help="With --ray: the folder (a path every node sees, or a URI) to keep the finished chunks in until "
                   "the output is written. Default: beside the output.")
def video(source, output, model, direction, device, precision, backend, options, temporal, smoothing, consistency,
          cut_threshold, codec, crf, preset, pix_fmt, start, end, chunk_frames, frame_batch, resume, overwrite, use_ray,
          address, actors, threads, work) -> None:
    """Translate every frame of a video INPUT (or a folder or glob of numbered image frames)."""
    from cyclegan_fx.cli.progress import CountProgress
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.runners.factory import open_runner
    from cyclegan_fx.scale.storage import is_uri
    from cyclegan_fx.video import EncodeSettings, ModelRef, translate
    from cyclegan_fx.video.sequence import sequence_files

    video_options = VideoOptions(
        temporal=TemporalSettings(Temporal(temporal), smoothing, cut_threshold, consistency),
        encode=EncodeSettings(codec, crf, preset, pix_fmt),
        start=start,
        end=end,
        chunk_frames=chunk_frames,
        frame_batch=frame_batch,
        resume=resume,
        overwrite=overwrite,
    )
    if not use_ray and (address or actors or threads or work):
        raise click.UsageError("--address, --actors, --threads and --work go with --ray.")
    if not use_ray and any(is_uri(text) for text in (source, output or "")):
        raise click.UsageError("URIs of object stores go with --ray; without it, give local paths.")
    if use_ray and not is_uri(source) and sequence_files(source) is not None:
        raise click.UsageError("--ray translates video files; translate image sequences without it, or with batch.")
    progress = CountProgress("frame", Path(source).name, every=10)
    try:
        if use_ray:
            from cyclegan_fx.scale.video_job import RayPlacement, translate_video_on_ray

            report = translate_video_on_ray(source, model, direction, device, precision, backend, options,
                                            video_options, RayPlacement(address, actors, threads), output,
                                            progress.update, work)
        else:
            resolved = resolve_model(model)
            runner = open_runner(resolved, direction, device, precision, backend)
            identity = f"{resolved.path.resolve()}:{direction}:{runner.backend.name}:{runner.backend.dtype}"
            report = translate(source, runner, options, video_options, ModelRef(resolved.name, direction, identity),
                               Path(output) if output else None, progress.update)
    finally:
        progress.close()
    log.info("Wrote %d frames to %s.", report.frames, report.output)
