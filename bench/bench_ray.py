"""Benchmark of `cyclegan-fx batch` (Ray workers) against plain `cyclegan-fx apply` on the same files.

    .venv/bin/python bench/bench_ray.py                  # 16 images of 640x480, --work-size 384, 2 rounds
    .venv/bin/python bench/bench_ray.py --with-threads   # also apply and one worker with every CPU as threads

Each configuration runs in a fresh process on a fresh output folder, with the built-in model on the
CPU at auto precision. "Steady" is the time from the first image handed out to the last one written
(for `apply`: the sum of its per-image times); "startup" is the rest of the wall time (Python and torch
imports, the Ray runtime, workers loading the model). Images per minute are steady-state figures.
The last column compares the steady time per image with `apply` run with as many threads as one worker
has (OMP_NUM_THREADS). Configurations run in interleaved rounds and the best steady time of each is
kept, which evens out a shared machine's load.
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

import cv2

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "images" / "coffee.jpg"


def make_images(folder: Path, count: int, width: int, height: int) -> None:
    """Shifted crops of the sample photo, resized to the benchmark size, as JPEGs."""
    image = cv2.imread(str(PHOTO))
    folder.mkdir(parents=True)
    for i in range(count):
        dy, dx = (i * 7) % 60, (i * 11) % 90
        crop = image[dy : image.shape[0] - 60 + dy, dx : image.shape[1] - 90 + dx]
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))


def run(args: list[str], threads: int | None = None) -> tuple[float, str]:
    """Wall time and log of one command in a fresh process (``threads``: its OpenMP threads)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cyclegan_fx", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return wall, done.stderr


def steady_apply(log: str) -> float:
    return sum(float(s) for s in re.findall(r" -> .* \((\d+\.\d+) s\)", log))


def steady_batch(log: str) -> float:
    return float(re.search(r"failed, in (\d+\.\d+) s", log).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--work-size", default="384")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every configuration, interleaved; best kept")
    parser.add_argument("--with-threads", action="store_true",
                        help="also apply and one worker with every CPU as threads")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    common = ["--device", args.device, "--work-size", args.work_size]
    cpus = os.cpu_count() or 1
    # (name, command, OpenMP threads of apply, index of the apply run with as many threads per process)
    configs = [("apply, 1 thread", ["apply"], 1, 0),
               ("batch, 1 worker x 1 thread", ["batch", "--actors", "1", "--threads", "1"], None, 0),
               (f"batch, {cpus} workers x 1 thread", ["batch", "--actors", str(cpus), "--threads", "1"], None, 0)]
    if args.with_threads:
        configs += [(f"apply, {cpus} threads", ["apply"], cpus, 3),
                    (f"batch, 1 worker x {cpus} threads", ["batch", "--actors", "1", "--threads", str(cpus)], None, 3)]
    best: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in"
        make_images(source, args.images, width, height)
        for round_ in range(args.rounds):
            for index, (name, verb, threads, _) in enumerate(configs):
                out = Path(tmp) / f"out{round_}-{index}"
                extra = ["--failures", str(Path(tmp) / "failures.jsonl")] if verb[0] == "batch" else []
                wall, log = run([*verb, str(source), "-o", str(out), *common, *extra], threads)
                steady = steady_apply(log) if verb[0] == "apply" else steady_batch(log)
                best[index] = min(best.get(index, (wall, steady)), (wall, steady), key=lambda pair: pair[1])
                print(f"round {round_ + 1}, {name}: {wall:.1f} s wall, {steady:.1f} s steady", file=sys.stderr,
                      flush=True)
    print(f"{args.images} images of {width}x{height}, --work-size {args.work_size}, {args.device}, {cpus} CPUs, "
          f"best of {args.rounds} interleaved rounds, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| configuration | wall | startup | steady | images/min (steady) | per image vs apply, same threads |")
    print("| --- | --- | --- | --- | --- | --- |")
    for index, (name, _, _, reference) in enumerate(configs):
        (wall, steady), base = best[index], best[reference][1] / args.images
        per_image = steady / args.images
        print(f"| {name} | {wall:.1f} s | {wall - steady:.1f} s | {steady:.1f} s | {60 / per_image:.1f} | "
              f"{per_image / base:.2f}x ({1000 * (per_image - base):+.0f} ms) |")

if __name__ == "__main__":
    main()
