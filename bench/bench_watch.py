"""Benchmark of the watch daemon's overhead: the same images through `watch --once` and through `apply`.

    .venv/bin/python bench/bench_watch.py              # 200 images of three sizes, best of 3 runs each
    .venv/bin/python bench/bench_watch.py --images 60 --repeat 1

Both commands run as fresh processes with the same model and options, so process start-up and model
loading count in both. `watch --once` claims each file (a record, an atomic rename, a name lock),
writes the output, moves the original to done/ and logs it; `apply` only reads and writes. The
difference per image is the watcher's overhead. Runs alternate (apply, watch, apply, watch, ...) and
the best of each is kept, with the CPU time the process used (user + system) beside the wall time.
Last, the daemon's own file work per image (claim and finish) is timed in process, apart from any
model: the part of the overhead that does not depend on how the model runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = [ROOT / "examples" / "images" / name for name in ("coffee.jpg", "chelsea.jpg")]
SIZES = [(128, 96), (192, 128), (256, 192)]


def make_images(folder: Path, count: int) -> None:
    """``count`` JPEGs cycling through the sizes and both sample photos."""
    folder.mkdir(parents=True)
    photos = [cv2.imread(str(p)) for p in PHOTOS]
    for i in range(count):
        width, height = SIZES[i % len(SIZES)]
        image = cv2.resize(photos[i % len(photos)], (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"img{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])


def timed(command: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a command run to its end."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bookkeeping(folder: Path, count: int) -> dict[str, float]:
    """Milliseconds per image of the daemon's own file work, in process on this disk: claiming (a record,
    a rename, a name lock) and finishing (the move to done/, removing lock and record)."""
    from cyclegan_fx.watch.claims import Claims
    from cyclegan_fx.watch.config import FolderConfig
    from cyclegan_fx.watch.owner import Owner

    config = FolderConfig(inbox=folder)
    (config.work_dir / "processing").mkdir(parents=True)
    claims = Claims(config, Owner.current())
    spent = {"claim": 0.0, "finish": 0.0}
    for path in sorted(folder.glob("*.jpg"))[:count]:
        start = time.perf_counter()
        claim = claims.take(path)
        middle = time.perf_counter()
        claims.output_path(claim).write_bytes(b"")  # the output itself is apply's work too, not counted
        end = time.perf_counter()
        claims.finish(claim)
        spent["claim"] += middle - start
        spent["finish"] += time.perf_counter() - end
    return {name: 1000 * seconds / count for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default="vintage")
    parser.add_argument("run_options", nargs="*", help="extra options for both commands, after --")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "cyclegan_fx"]
    common = ["--model", args.model, *args.run_options]
    wall = {"apply": float("inf"), "watch --once": float("inf")}
    cpu = dict(wall)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        source = Path(tmp) / "images"
        make_images(source, args.images)
        for run in range(args.repeat):
            inbox = Path(tmp) / f"inbox-{run}"
            shutil.copytree(source, inbox)  # before apply runs: older than --settle when watch starts
            commands = {
                "apply": [*cli, "apply", str(source), "-o", str(Path(tmp) / f"apply-{run}"), *common],
                "watch --once": [*cli, "watch", str(inbox), "--once", *common],
            }
            for name, command in commands.items():
                seconds, used = timed(command)
                wall[name], cpu[name] = min(wall[name], seconds), min(cpu[name], used)
            if len(os.listdir(inbox / "out")) != args.images:
                sys.exit("watch --once did not write every output")
        shutil.copytree(source, Path(tmp) / "inbox-files")
        own = bookkeeping(Path(tmp) / "inbox-files", args.images)
    sizes = ", ".join(f"{w}x{h}" for w, h in SIZES)
    print(f"\n{args.images} JPEG images ({sizes}), --model {args.model} {' '.join(args.run_options)}, "
          f"{os.cpu_count()} CPU cores; whole commands (start-up included), best of {args.repeat}\n")
    print("| command | wall time (s) | images per minute | CPU time (s) |")
    print("| --- | --- | --- | --- |")
    for name in wall:
        print(f"| `{name}` | {wall[name]:.1f} | {60 * args.images / wall[name]:.0f} | {cpu[name]:.1f} |")
    for what, times in (("wall", wall), ("CPU", cpu)):
        extra = times["watch --once"] - times["apply"]
        print(f"\nwatch --once minus apply, {what} time: {1000 * extra / args.images:+.1f} ms per image, "
              f"{100 * extra / times['apply']:+.1f}%")
    total = sum(own.values())
    per_image = 1000 * wall["watch --once"] / args.images
    print(f"\nthe watcher's own file work per image, in process: claim {own['claim']:.2f} ms, finish "
          f"{own['finish']:.2f} ms, total {total:.2f} ms = {100 * total / per_image:.2f}% of the {per_image:.0f} ms "
          "that watch --once took per image (target: under 50 ms and 5%)")


if __name__ == "__main__":
    main()
