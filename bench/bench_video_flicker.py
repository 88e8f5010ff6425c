"""Flicker of `cyclegan-fx video` per --temporal mode, as the warping error of Lai et al. (ECCV 2018).

    .venv/bin/python bench/bench_video_flicker.py              # 320x192, 48 frames, about 5 minutes on 2 cores
    .venv/bin/python bench/bench_video_flicker.py --size 640x384 --frames 96

The clip (bench/video_clip.py): a camera moving over a photo with sensor noise, a cut, and a
second shot. Each mode translates it with the real `vintage` generator through the whole
command (H.264 output at the default CRF 18). The warping error uses OpenCV DIS flow between
consecutive input frames with a forward-backward occlusion mask; the pair across the cut is
left out. The input's own warping error is the floor. Goal: smooth at least 25% below off.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_clip import camera_frames, write_clip  # noqa: E402

from cyclegan_fx.models import resolve_model  # noqa: E402
from cyclegan_fx.runners.factory import open_runner  # noqa: E402
from cyclegan_fx.runtime.config import RunOptions  # noqa: E402
from cyclegan_fx.video import EncodeSettings, ModelRef, Temporal, TemporalSettings, VideoOptions, translate_video  # noqa: E402
from cyclegan_fx.video.flicker import warping_error  # noqa: E402


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x192", help="WIDTHxHEIGHT of the clip")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--work-size", default="full", help="runner work size (long side) or full")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cut = args.frames * 2 // 3
    work_size = args.work_size if args.work_size == "full" else int(args.work_size)
    runner = open_runner(resolve_model("vintage"), "a2b", args.device)
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "camera.mp4", camera_frames(width, height, args.frames, cut))
        source = decoded(clip)
        floor = warping_error(source, source, skip={cut - 1})
        print(f"clip {width}x{height}, {args.frames} frames, cut before frame {cut}, work size {args.work_size}, "
              f"{runner.backend.name} {runner.backend.dtype} on {runner.backend.device}")
        print(f"{'':16} {'warping error':>14} {'vs off':>8} {'vs input':>9} {'time':>8}")
        print(f"{'input':16} {floor * 1e3:14.3f} {'':>8} {'1.00x':>9}")
        errors = {}
        for mode in (Temporal.OFF, Temporal.SMOOTH, Temporal.SHOT):
            output = Path(folder) / f"{mode.value}.mp4"
            options = VideoOptions(TemporalSettings(mode), EncodeSettings())
            started = time.perf_counter()
            translate_video(clip, runner, RunOptions(work_size=work_size), options, ModelRef("vintage", "a2b", ""),
                            output)
            seconds = time.perf_counter() - started
            errors[mode] = warping_error(source, decoded(output), skip={cut - 1})
            versus_off = f"{errors[mode] / errors[Temporal.OFF] - 1:+.0%}" if mode is not Temporal.OFF else ""
            print(f"{'--temporal ' + mode.value:16} {errors[mode] * 1e3:14.3f} {versus_off:>8} "
                  f"{errors[mode] / floor:8.2f}x {seconds:7.1f}s")
    print("(warping error x 1000: mean squared RGB difference in [0, 1] over non-occluded pixels)")
    goal = errors[Temporal.SMOOTH] <= 0.75 * errors[Temporal.OFF]
    print(f"goal smooth >= 25% below off: {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
