"""Speed of `cyclegan-fx video` against the runner alone, on the same frames.

    .venv/bin/python bench/bench_video_speed.py                     # 320x192, 24 frames, about 4 minutes on 2 cores
    .venv/bin/python bench/bench_video_speed.py --size 1920x1080 --frames 96 --work-size 1024 --device cuda

The runner alone translates the decoded frames, held in memory, in batches of --frame-batch
with the same smoothed statistics the command uses. The whole command (decode || translate
|| encode in threads, H.264 CRF 18, chunks, join) runs on the same clip with the same
runner. Both are timed alternately, best of --repeat, and both run the network in a thread
other than the main one (on a busy machine OpenMP's spin-waiting slows the main thread's
team down by up to several times; OMP_WAIT_POLICY=PASSIVE evens that out). Goal: the command
reaches at least 90% of the runner's frames per second. Decoding and encoding alone are timed
too, to show what the threads hide.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_clip import camera_frames, write_clip  # noqa: E402

from cyclegan_fx.models import resolve_model  # noqa: E402
from cyclegan_fx.runners.factory import open_runner  # noqa: E402
from cyclegan_fx.runtime.config import RunOptions  # noqa: E402
from cyclegan_fx.runtime.statistics import AdjustedStats  # noqa: E402
from cyclegan_fx.video import ModelRef, Temporal, TemporalSettings, VideoOptions, translate_video  # noqa: E402
from cyclegan_fx.video.decode import decode  # noqa: E402
from cyclegan_fx.video.encode import choose_encoder, new_encoder  # noqa: E402
from cyclegan_fx.video.frames import from_rgb, to_rgb  # noqa: E402
from cyclegan_fx.video.probe import probe  # noqa: E402
from cyclegan_fx.video.temporal import Smoother  # noqa: E402


def runner_alone(runner, frames, options: RunOptions, video: VideoOptions) -> float:
    """Frames per second of the runner on frames in memory, in a thread of its own as in the command."""
    smoother = Smoother(video.temporal.momentum)

    def work() -> None:
        for first in range(0, len(frames), video.frame_batch):
            batch = frames[first : first + video.frame_batch]
            hook = smoother.hook([first == 0] + [False] * (len(batch) - 1))
            runner.run_batch(batch, options, statistics=AdjustedStats(hook))

    thread = threading.Thread(target=work)
    started = time.perf_counter()
    thread.start()
    thread.join()
    return len(frames) / (time.perf_counter() - started)


def whole_command(runner, clip: Path, folder: Path, options: RunOptions, video: VideoOptions, frames: int) -> float:
    started = time.perf_counter()
    translate_video(clip, runner, options, video, ModelRef("vintage", "a2b", ""), folder / "out.mp4")
    seconds = time.perf_counter() - started
    (folder / "out.mp4").unlink()
    return frames / seconds


def decoding(source) -> tuple[float, list]:
    started = time.perf_counter()
    frames = [to_rgb(d.frame, source.matrix) for d in decode(source)]
    return len(frames) / (time.perf_counter() - started), frames


def encoding(source, frames) -> float:
    spec = choose_encoder(source, VideoOptions().encode, "mp4")
    encoder = new_encoder(spec, "mp4")
    started = time.perf_counter()
    for i, rgb in enumerate(frames):
        frame = from_rgb(rgb, spec.pix_fmt, spec.matrix)
        frame.pts, frame.time_base = i, source.time_base
        encoder.encode(frame)
    encoder.encode(None)
    return len(frames) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x192", help="WIDTHxHEIGHT of the clip")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--work-size", default="full", help="runner work size (long side) or full")
    parser.add_argument("--frame-batch", type=int, default=VideoOptions().frame_batch)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--temporal", default=TemporalSettings().mode.value, help="--temporal mode of the command")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    options = RunOptions(work_size=args.work_size if args.work_size == "full" else int(args.work_size))
    video = VideoOptions(TemporalSettings(Temporal(args.temporal)), frame_batch=args.frame_batch, overwrite=True)
    runner = open_runner(resolve_model("vintage"), "a2b", args.device)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clip = write_clip(folder / "camera.mp4", camera_frames(width, height, args.frames, cut=args.frames))
        source = probe(clip)
        decode_fps, frames = decoding(source)
        encode_fps = encoding(source, frames)
        runner_alone(runner, frames, options, video)  # warm-up: every shape the runner will see
        alone, command = [], []
        for _ in range(args.repeat):
            alone.append(runner_alone(runner, frames, options, video))
            command.append(whole_command(runner, clip, folder, options, video, len(frames)))
            print(f"  runner alone {alone[-1]:.2f} frames/s, whole command {command[-1]:.2f} frames/s", flush=True)
        alone, command = max(alone), max(command)
    print(f"clip {width}x{height}, {args.frames} frames, work size {args.work_size}, frame batch {args.frame_batch}, "
          f"--temporal {args.temporal}, "
          f"{runner.backend.name} {runner.backend.dtype} on {runner.backend.device}")
    print(f"{'':34} {'frames/s':>9} {'ratio':>7}")
    print(f"{'decode + YUV->RGB alone':34} {decode_fps:9.2f}")
    print(f"{'RGB->YUV + encode (x264) alone':34} {encode_fps:9.2f}")
    print(f"{'runner alone (frames in memory)':34} {alone:9.2f} {'1.00':>7}")
    print(f"{'cyclegan-fx video (whole command)':34} {command:9.2f} {command / alone:7.2f}")
    print(f"goal >= 0.90 of the runner: {'met' if command >= 0.9 * alone else 'NOT met'}")


if __name__ == "__main__":
    main()
