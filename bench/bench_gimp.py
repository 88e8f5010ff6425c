"""Click-to-result time of the GIMP plug-in on a 24 MP photo, and where it goes; prints a table.

    sudo .venv/bin/python bench/bench_gimp.py              # 6000x4000, the model's default work size
    sudo .venv/bin/python bench/bench_gimp.py --size 3000x2000 --work-size full

Drives a real GIMP 3 headless in the Debian 13 chroot of the test tier (built on first use into
the test cache; needs root) with the plug-in installed by `cyclegan-fx gimp install` and no
service running: the first click starts `cyclegan-fx serve` as a user's first click does (this
Python is bind-mounted into the chroot at its own path), later clicks on the same image find it
warm (clicked --pause seconds apart). The plug-in logs, for each click, the seconds GIMP took to hand it the layer (read), to
find or start the service (connect), the service's round trip and the runner's share of it, and
writing the result back through the shadow buffer (write). `Runner.run` alone on the same
pixels, in this process, is the reference the overhead is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import gimp_chroot  # noqa: E402

PHOTO = ROOT / "examples" / "images" / "coffee.jpg"
TIMING = re.compile(r"read ([\d.]+) s, connect ([\d.]+) s, service ([\d.]+) s \(runner ([\d.]+) s\), "
                    r"write ([\d.]+) s, total ([\d.]+) s")
FIELDS = ("read", "connect", "service", "runner", "write", "plugin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the photo (default 24 MP)")
    parser.add_argument("--work-size", default="model", help="the procedure's work-size argument")
    parser.add_argument("--repeat", type=int, default=3, help="clicks on the same image (the first starts the service)")
    parser.add_argument("--pause", type=float, default=3.0,
                        help="seconds between clicks, as a user pauses (back to back, the previous plug-in "
                             "process is still being torn down when the next click starts)")
    args = parser.parse_args()
    reason = gimp_chroot.unavailable_reason()
    python = gimp_chroot.shareable_python()
    if reason or python is None:
        raise SystemExit(f"Cannot run a real GIMP with this Python here: {reason or 'it is installed under /usr'}.")
    root = gimp_chroot.ensure_rootfs()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-gimp-"))
    home = work / "home"
    os.environ["CYCLEGAN_FX_HOME"] = str(home)
    try:
        image = work / "photo.jpg"
        photo = cv2.resize(cv2.imread(str(PHOTO)), (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(image), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
        subprocess.run([sys.executable, "-m", "cyclegan_fx", "gimp", "install", "--gimp-dir", str(work / "gimp3")],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
        clicks = run_gimp(root, work, home, image, args, python)
        alone = runner_alone(image, args.work_size, 2)
        print_table(args, width, height, clicks, alone)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_gimp(root: Path, work: Path, home: Path, image: Path, args, python: list[Path]) -> list[dict]:
    """Each click's timings as the plug-in logged them, with GIMP's own click-to-result seconds."""
    case = {"id": "photo", "input": str(image), "procedure": "cyclegan-fx-vintage-a2b", "repeat": args.repeat,
            "pause": args.pause, "args": {"work-size": args.work_size}, "dump": False}
    (work / "job.json").write_text(json.dumps({"out_dir": str(work), "cases": [case]}))
    shutil.copy(ROOT / "tests" / "gimp_batch.py", work / "gimp_batch.py")
    env = {"GIMP3_DIRECTORY": str(work / "gimp3"), "CYCLEGAN_FX_HOME": str(home), "CFX_GIMP_JOB": str(work / "job.json")}
    done = gimp_chroot.run_gimp(root, work / "gimp_batch.py", [work, ROOT, *python], env, timeout=1800,
                                before_unmount=lambda: stop_service(home))
    if done.returncode != 0 or not (work / "report.json").is_file():
        raise SystemExit("GIMP failed:\n" + done.stderr[-3000:])
    result = json.loads((work / "report.json").read_text())["cases"]["photo"]
    if result["status"] != "success":
        raise SystemExit(f"The procedure failed: {result['error']}")
    logged = [dict(zip(FIELDS, map(float, m.groups()))) for m in TIMING.finditer(done.stderr)]
    return [{**timing, "click": seconds} for timing, seconds in zip(logged, result["seconds"], strict=True)]


def stop_service(home: Path) -> None:
    """Stop the service the first click started (inside the chroot) before its folders are unmounted."""
    from cyclegan_fx.serve import read_endpoint

    endpoint = read_endpoint(home)
    if endpoint is None:
        return
    os.kill(endpoint.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while gimp_chroot.process_running(endpoint.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def runner_alone(image_path: Path, work_size: str, repeat: int) -> list[float]:
    """Seconds of `Runner.run` in this process on the same pixels, model loaded."""
    from cyclegan_fx.io.image_read import load_image
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.runners.factory import open_runner
    from cyclegan_fx.runtime.config import RunOptions

    pixels = load_image(image_path).pixels
    runner = open_runner(ModelStore().get("vintage"), "a2b")
    options = RunOptions(work_size=work_size if work_size in ("model", "full") else int(work_size))
    runs = []
    for _ in range(repeat):
        started = time.monotonic()
        runner.run(pixels, options)
        runs.append(time.monotonic() - started)
    return runs


def print_table(args, width, height, clicks, alone) -> None:
    print(f"\nGIMP 3.0.4 (chroot) -> plug-in -> cyclegan-fx serve, {width}x{height} ({width * height / 1e6:.0f} MP) "
          f"8-bit RGB, work size {args.work_size}, {os.cpu_count()} cores; seconds")
    print("| click | click to result | runner | GIMP read | start or find the service | HTTP and queue "
          "| GIMP write | plug-in start and the rest | overhead over the runner |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, c in enumerate(clicks, start=1):
        name = "1 (no service running)" if i == 1 else f"{i} (model warm)"
        http = c["service"] - c["runner"]
        rest = c["click"] - c["plugin"]
        overhead = (c["click"] - c["runner"]) / c["runner"]
        print(f"| {name} | {c['click']:.2f} | {c['runner']:.2f} | {c['read']:.2f} | {c['connect']:.2f} | {http:.2f} "
              f"| {c['write']:.2f} | {rest:.2f} | {overhead * 100:.0f}% |")
    print(f"\n`Runner.run` alone in one process on the same pixels: {min(alone):.2f} s (best of {len(alone)}); "
          f"the first click's runner time includes loading the model.")


if __name__ == "__main__":
    main()
