"""Benchmark of `cyclegan-fx video --ray` (1 and 2 actors) against the single-process `video` on the same clip.

    .venv/bin/python bench/bench_video_ray.py                       # 256x144, 120 frames, chunks of 30
    .venv/bin/python bench/bench_video_ray.py --temporal off --frames 240

Each configuration runs once in a fresh process (a local Ray runtime for the --ray ones), built-in model on
the CPU, FFV1 output. Per configuration: wall time, frames per second over the wall time, the time to
start the workers, the time the chunks took, and per chunk the overhead over the single-process cost of its
own frames (the lead-in's frames, the seek, a fresh encoder). Then the --ray outputs against the
single-process one: frame count, pts, the lowest PSNR, and the warping error (Lai et al.) of the frame
pairs across chunk boundaries against that of the pairs inside chunks.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_clip import camera_frames, write_clip

from cyclegan_fx.scale.video_plan import lead_in_frames
from cyclegan_fx.video.config import Temporal, TemporalSettings
from cyclegan_fx.video.flicker import warping_error

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cyclegan_fx", "-vv", *args], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return wall, done.stderr


def decoded(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.pts for f in frames]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256x144")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--chunk", type=int, default=30)
    parser.add_argument("--work-size", default="128")
    parser.add_argument("--temporal", default="smooth", choices=[t.value for t in Temporal])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cut = args.frames - args.chunk // 2  # in the last chunk, after every boundary: no lead-in holds it
    common = ["--device", "cpu", "--work-size", args.work_size, "--codec", "ffv1", "--chunk", str(args.chunk),
              "--temporal", args.temporal]
    configs = [("video", []), ("video --ray, 1 actor", ["--ray", "--actors", "1", "--threads", "1"]),
               ("video --ray, 2 actors", ["--ray", "--actors", "2", "--threads", "1"])]
    lead = lead_in_frames(TemporalSettings(Temporal(args.temporal)))
    firsts = list(range(0, args.frames, args.chunk))
    lead_frames = sum(min(lead, first) for first in firsts)
    rows, outputs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        frames = camera_frames(width, height, args.frames, cut)
        clip = write_clip(Path(tmp) / "clip.mp4", frames)
        inputs, _ = decoded(clip)
        for index, (name, extra) in enumerate(configs):
            out = Path(tmp) / f"out{index}.mkv"
            wall, log = run(["video", str(clip), "-o", str(out), *common, *extra])
            ready = re.search(r"worker\(s\) ready in (\d+\.\d+) s", log)
            span = re.search(r"Translated the chunk\(s\) in (\d+\.\d+) s", log)
            chunks = [float(s) for s in re.findall(r"Chunk \d+ \(video\) written in (\d+\.\d+) s", log)]
            rows.append((name, wall, float(ready.group(1)) if ready else 0.0, float(span.group(1)) if span else 0.0,
                         chunks))
            outputs.append(decoded(out))
            print(f"{name}: {wall:.1f} s", file=sys.stderr, flush=True)
    single_wall = rows[0][1]
    per_frame = single_wall / args.frames  # an upper bound: the single-process wall time includes its startup
    print(f"{args.frames} frames of {width}x{height} (a cut at {cut}), --work-size {args.work_size}, --temporal "
          f"{args.temporal} (lead-in {lead} frames: {lead_frames} extra frames in all), chunks of {args.chunk}, CPU, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| configuration | wall | frames/s (wall) | workers start | chunks | mean chunk | overhead per chunk |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, wall, ready, span, chunks in rows:
        mean = np.mean(chunks) if chunks else 0.0
        overhead = mean - args.chunk * per_frame if chunks else 0.0
        print(f"| {name} | {wall:.1f} s | {args.frames / wall:.1f} | {ready:.1f} s | {span:.1f} s | "
              f"{mean:.2f} s | {overhead:+.2f} s |" if chunks else
              f"| {name} | {wall:.1f} s | {args.frames / wall:.1f} | - | - | - | - |")
    reference, reference_pts = outputs[0]
    boundaries = {first - 1 for first in firsts[1:]}  # pair (t, t+1) with t+1 a chunk's first frame
    inside = set(range(args.frames - 1)) - boundaries - {cut - 1}
    print("\n| output | frames | pts equal | lowest PSNR vs video | warping error across boundaries | inside chunks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (name, *_), (frames_out, pts) in zip(rows, outputs):
        across = warping_error(inputs, frames_out, skip=inside | {cut - 1})
        within = warping_error(inputs, frames_out, skip=boundaries | {cut - 1})
        lowest = min(psnr(a, b) for a, b in zip(frames_out, reference))
        print(f"| {name} | {len(frames_out)} | {pts == reference_pts} | {lowest:.1f} dB | {across:.5f} "
              f"| {within:.5f} |")


if __name__ == "__main__":
    main()
