"""Flicker, fidelity, ghosting and speed of `cyclegan-fx video` per --temporal mode.

    .venv/bin/python bench/bench_video_flicker.py                          # 160x96, 24 frames, about 3 minutes on 2 cores
    .venv/bin/python bench/bench_video_flicker.py --size 320x192 --frames 48 --modes off,smooth,shot,flow

Two clips (bench/video_clip.py), each with sensor noise and a cut two thirds in: a camera
moving over a photo, and objects crossing over a panning photo (one hides the other; both hide
and uncover the background). Each mode translates the clip with the real `vintage` generator
through the whole command, into lossless FFV1 by default so that the encoder's own loss does not
hide what the modes do (``--codec h264``: H.264 at the default CRF 18). Figures:

* warping error (Lai et al., ECCV 2018): OpenCV DIS flow between consecutive input frames, a
  forward-backward occlusion mask, the pair across the cut left out; the input's own is the floor;
* fidelity: PSNR of each output frame against the per-frame translation (the runner on that frame
  alone, its own statistics), mean and worst frame;
* ghosting: mean squared error against the per-frame translation over the pixels that the flow
  from each frame back to the one before marks as newly visible (occluded before, or come in at
  the border);
* frames per second of the whole command against the runner alone (frames in memory, smoothed
  statistics, in a thread of its own; bench/bench_video_speed.py times this more carefully).

Targets: warping error at most 1.25x the input's, mean PSNR at least 30 dB, ghosting of flow no
worse than smooth's, the command at least 90% of the runner's frames per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_video_speed import runner_alone
from video_clip import camera_frames, crossing_frames, write_clip  # noqa: E402

from cyclegan_fx.models import resolve_model  # noqa: E402
from cyclegan_fx.runners.factory import open_runner  # noqa: E402
from cyclegan_fx.runtime.config import RunOptions  # noqa: E402
from cyclegan_fx.video import EncodeSettings, ModelRef, Temporal, TemporalSettings, VideoOptions, translate_video  # noqa: E402
from cyclegan_fx.video.decode import decode
from cyclegan_fx.video.flicker import warping_error  # noqa: E402
from cyclegan_fx.video.frames import to_rgb
from cyclegan_fx.video.motion import as_float_rgb, flow_and_mask, luma8
from cyclegan_fx.video.probe import probe

CLIPS = {"camera": camera_frames, "crossing": crossing_frames}


def decoded(path: Path) -> list[np.ndarray]:
    """Float RGB, decoded as the command decodes (the file's own matrix and range, exact arithmetic)."""
    source = probe(path)
    return [to_rgb(d.frame, source.matrix) for d in decode(source)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((as_float_rgb(a) - as_float_rgb(b)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def newly_visible(source: list[np.ndarray], cut: int) -> dict[int, np.ndarray]:
    """For each frame t after the first of its shot: the pixels not visible in frame t - 1."""
    return {t: flow_and_mask(luma8(source[t]), luma8(source[t - 1]))[1] == 0
            for t in range(1, len(source)) if t != cut}


def ghosting(outputs: list[np.ndarray], reference: list[np.ndarray], visible: dict[int, np.ndarray]) -> float:
    squared = [np.sum((as_float_rgb(outputs[t]) - as_float_rgb(reference[t])) ** 2, axis=2)[mask]
               for t, mask in visible.items()]
    return float(np.mean(np.concatenate(squared)))


def bench_clip(name: str, runner, args, width: int, height: int, folder: Path) -> dict[Temporal, dict[str, float]]:
    cut = args.frames * 2 // 3
    clip = write_clip(folder / f"{name}.mp4", CLIPS[name](width, height, args.frames, cut, noise=args.noise))
    source = decoded(clip)
    options = RunOptions(work_size=args.work_size)
    reference = [runner.run(f, options) for f in source]  # the per-frame translation; also the warm-up
    alone = runner_alone(runner, source, options, VideoOptions())
    visible = newly_visible(source, cut)
    floor = warping_error(source, source, skip={cut - 1})
    figures = {}
    for mode in args.modes:
        output = folder / f"{name}-{mode.value}.mkv"
        video = VideoOptions(TemporalSettings(mode, consistency=args.consistency), EncodeSettings(codec=args.codec))
        started = time.perf_counter()
        translate_video(clip, runner, options, video, ModelRef("vintage", "a2b", ""), output)
        fps = len(source) / (time.perf_counter() - started)
        frames = decoded(output)
        scores = [psnr(a, b) for a, b in zip(frames, reference, strict=True)]
        error = warping_error(source, frames, skip={cut - 1})
        figures[mode] = {"error": error, "ratio": error / floor, "psnr": float(np.mean(scores)),
                         "worst": min(scores), "ghost": ghosting(frames, reference, visible), "fps": fps / alone}
    share = float(np.mean([m.mean() for m in visible.values()]))
    print(f"\n{name}: {width}x{height}, {args.frames} frames, noise {args.noise:g}, cut before frame {cut}, "
          f"newly visible {share:.1%} of the pixels, runner alone {alone:.2f} frames/s")
    print(f"{'':18} {'warp err':>9} {'vs input':>9} {'PSNR':>6} {'worst':>6} {'ghosting':>9} {'speed':>6}")
    print(f"{'input':18} {floor * 1e3:9.3f} {'1.00x':>9}")
    for mode, f in figures.items():
        print(f"{'--temporal ' + mode.value:18} {f['error'] * 1e3:9.3f} {f['ratio']:8.2f}x {f['psnr']:6.1f} "
              f"{f['worst']:6.1f} {f['ghost'] * 1e3:9.3f} {f['fps']:5.0%}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x96", help="WIDTHxHEIGHT of the clips")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--noise", type=float, default=3.0, help="sensor noise of the clips (standard deviation, of 255)")
    parser.add_argument("--work-size", default="full", help="runner work size (long side) or full")
    parser.add_argument("--modes", default="off,smooth,flow", help="comma-separated --temporal modes")
    parser.add_argument("--consistency", type=float, default=TemporalSettings().consistency)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--codec", default="ffv1", help="of the output: ffv1 (lossless) or h264 (CRF 18)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.modes = [Temporal(m) for m in args.modes.split(",")]
    args.work_size = args.work_size if args.work_size == "full" else int(args.work_size)
    width, height = (int(v) for v in args.size.split("x"))
    runner = open_runner(resolve_model("vintage"), "a2b", args.device)
    print(f"vintage at work size {args.work_size}, {runner.backend.name} {runner.backend.dtype} on "
          f"{runner.backend.device}, consistency {args.consistency}, output {args.codec}")
    with tempfile.TemporaryDirectory() as folder:
        results = {name: bench_clip(name, runner, args, width, height, Path(folder)) for name in args.clips.split(",")}
    print("\n(x 1000: warping error, mean squared RGB difference in [0, 1] over non-occluded pixels; ghosting, the same "
          "against the per-frame translation over newly visible pixels. PSNR in dB against the per-frame translation. "
          "speed: the whole command's frames per second over the runner's alone)")
    for name, figures in results.items():
        if Temporal.FLOW in figures:
            flow, smooth = figures[Temporal.FLOW], figures.get(Temporal.SMOOTH)
            checks = [f"warping error <= 1.25x input: {flow['ratio'] <= 1.25}", f"PSNR >= 30 dB: {flow['psnr'] >= 30}",
                      f"speed >= 90%: {flow['fps'] >= 0.9}"]
            if smooth:
                checks.append(f"ghosting <= smooth's: {flow['ghost'] <= smooth['ghost']}")
            print(f"{name}, flow: " + "; ".join(checks))


if __name__ == "__main__":
    main()
