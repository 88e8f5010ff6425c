"""Click-to-result time of the GIMP plug-in on a 24 MP photo, and where it goes; prints a table.

    sudo .venv/bin/python bench/bench_gimp.py              # 6000x4000, the model's default work size
    sudo .venv/bin/python bench/bench_gimp.py --size 3000x2000 --work-size full

Drives a real GIMP 3 headless in the Debian 13 chroot of the test tier (built on first use into
the test cache; needs root) with the plug-in installed by `cyclegan-fx gimp install`, against a
`cyclegan-fx serve` started here. GIMP runs the procedure several times on the same image: the
first run finds the model cold in the service, later runs find it warm. The plug-in logs, for
each click, the seconds GIMP took to hand it the layer (read), the service's round trip and the
runner's share of it, and writing the result back through the shadow buffer (write). Starting
the service (what a first click pays when none is running) is timed separately, here, because
the chroot cannot start this machine's cyclegan-fx.
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
import urllib.request
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import gimp_chroot  # noqa: E402

PHOTO = ROOT / "examples" / "images" / "coffee.jpg"
TIMING = re.compile(r"read ([\d.]+) s, service ([\d.]+) s \(runner ([\d.]+) s\), write ([\d.]+) s, total ([\d.]+) s")


def cli(home: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "cyclegan_fx", *args], env=_env(home), check=True, capture_output=True)


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CYCLEGAN_FX_HOME": str(home), "PYTHONPATH": str(ROOT)}


def start_service(home: Path, log: Path) -> tuple[subprocess.Popen, float]:
    """A fresh `cyclegan-fx serve`, and the seconds until it answered."""
    from cyclegan_fx.serve import answers, read_endpoint

    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "cyclegan_fx", "serve"], env=_env(home),
                               stdout=subprocess.DEVNULL, stderr=log.open("w"))
    while True:
        endpoint = read_endpoint(home)
        if endpoint is not None and answers(endpoint):
            return process, time.monotonic() - started
        if process.poll() is not None:
            raise SystemExit(f"cyclegan-fx serve exited; see {log}")
        time.sleep(0.05)


def runner_alone(image_path: Path, work_size: str, repeat: int) -> list[float]:
    """Seconds of `Runner.run` in this process on the same pixels, model loaded."""
    from cyclegan_fx.io.image_read import load_image
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.runtime.config import RunOptions
    from cyclegan_fx.runtime.factory import open_runner

    pixels = load_image(image_path).pixels
    runner = open_runner(ModelStore().get("vintage"), "a2b")
    runs = []
    for _ in range(repeat):
        started = time.monotonic()
        runner.run(pixels, RunOptions(work_size=_work_size(work_size)))
        runs.append(time.monotonic() - started)
    return runs


def _work_size(text: str) -> str | int:
    return text if text in ("model", "full") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the photo (default 24 MP)")
    parser.add_argument("--work-size", default="model", help="the procedure's work-size argument")
    parser.add_argument("--repeat", type=int, default=3, help="clicks on the same image (the first is cold)")
    args = parser.parse_args()
    reason = gimp_chroot.unavailable_reason()
    if reason:
        raise SystemExit(f"Cannot run a real GIMP here: {reason}.")
    root = gimp_chroot.ensure_rootfs()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-gimp-"))
    home = work / "home"
    os.environ["CYCLEGAN_FX_HOME"] = str(home)
    try:
        image = work / "photo.jpg"
        photo = cv2.resize(cv2.imread(str(PHOTO)), (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(image), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cli(home, "gimp", "install", "--gimp-dir", str(work / "gimp3"))  # also installs the built-in model
        service, start_seconds = start_service(home, work / "serve.log")
        try:
            clicks = run_gimp(root, work, home, image, args)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)
        alone = runner_alone(image, args.work_size, 2)
        print_table(args, width, height, start_seconds, clicks, alone)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_gimp(root: Path, work: Path, home: Path, image: Path, args) -> dict:
    out = work / "out"
    out.mkdir()
    case = {"id": "photo", "input": str(image), "procedure": "cyclegan-fx-vintage-a2b", "repeat": args.repeat,
            "args": {"work-size": args.work_size}, "dump": False}
    (work / "job.json").write_text(json.dumps({"out_dir": str(out), "cases": [case]}))
    shutil.copy(ROOT / "tests" / "gimp_batch.py", work / "gimp_batch.py")
    env = {"GIMP3_DIRECTORY": str(work / "gimp3"), "CYCLEGAN_FX_HOME": str(home), "CFX_GIMP_JOB": str(work / "job.json")}
    done = gimp_chroot.run_gimp(root, work / "gimp_batch.py", [work], env, timeout=1800)
    if done.returncode != 0 or not (out / "report.json").is_file():
        raise SystemExit("GIMP failed:\n" + done.stderr[-3000:])
    result = json.loads((out / "report.json").read_text())["cases"]["photo"]
    if result["status"] != "success":
        raise SystemExit(f"The procedure failed: {result['error']}")
    logged = [dict(zip(("read", "service", "runner", "write", "plugin"), map(float, m.groups())))
              for m in TIMING.finditer(done.stderr)]
    return [{**timing, "click": seconds} for timing, seconds in zip(logged, result["seconds"], strict=True)]


def print_table(args, width, height, start_seconds, clicks, alone) -> None:
    print(f"\nGIMP 3.0.4 (chroot) -> plug-in -> cyclegan-fx serve, {width}x{height} ({width * height / 1e6:.0f} MP) "
          f"8-bit RGB, work size {args.work_size}, {os.cpu_count()} cores; seconds")
    print("| click | click to result | runner (in the service) | GIMP read | HTTP and service | GIMP write "
          "| other | overhead over the runner |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, c in enumerate(clicks, start=1):
        name = "1 (model cold)" if i == 1 else f"{i} (model warm)"
        http = c["service"] - c["runner"]
        other = c["click"] - c["read"] - c["service"] - c["write"]
        overhead = (c["click"] - c["runner"]) / c["runner"]
        print(f"| {name} | {c['click']:.2f} | {c['runner']:.2f} | {c['read']:.2f} | {http:.2f} | {c['write']:.2f} "
              f"| {other:.2f} | {overhead * 100:.0f}% |")
    print(f"\nStarting `cyclegan-fx serve` until it answers: {start_seconds:.2f} s (added to a first click when "
          f"no service is running: {start_seconds + clicks[0]['click']:.2f} s).")
    print(f"`Runner.run` alone in one process on the same pixels: {min(alone):.2f} s (best of {len(alone)}).")


if __name__ == "__main__":
    main()
