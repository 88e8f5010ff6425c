"""Benchmark of the inference runner on this machine; prints tables with ratios from the same run.

    .venv/bin/python bench/bench_apply.py            # everything (about 15 minutes on 2 cores)
    .venv/bin/python bench/bench_apply.py --quick    # 512x512 only, no 6000x4000

Table 1: the official reference path (whole image, fp32 eager nn.Module) against the
runner's exact tiled path with PyTorch fp32 and bf16 and ONNX Runtime fp32, on the real
`vintage` generator.
Table 2: peak RSS and time for a 6000x4000 photo through the CLI (`cyclegan-fx apply`),
each in a fresh process, at --work-size full and --work-size 1024.
Table 3 (only where a CUDA GPU is present): 3840x2160 on the GPU, PyTorch fp16 and bf16
(and TensorRT where installed), in megapixels per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from cyclegan_fx.runtime.devices import cpu_has_native_bf16

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "images" / "coffee.jpg"


def photo(height: int, width: int) -> np.ndarray:
    """The sample photo resized to the benchmark size (content matters little for timing)."""
    image = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


def timed(fn, repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs after one warm-up."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def speed_table(sizes: list[tuple[int, int]], repeat: int) -> None:
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.runners.factory import open_runner
    from cyclegan_fx.runtime.config import RunOptions

    model = ModelStore().get("vintage")
    generator = model.generator("a2b")
    fp32 = open_runner(model, "a2b", "cpu", "fp32", "torch")
    bf16 = open_runner(model, "a2b", "cpu", "bf16", "torch")
    onnx = open_runner(model, "a2b", "cpu", "fp32", "onnxruntime")  # exports its graphs once, before timing
    tiled = RunOptions(work_size="full")
    print(f"\nTable 1: vintage generator on this CPU ({torch.get_num_threads()} threads), exact statistics, "
          f"best of {repeat}; ratios are against the official whole-image fp32 pass")
    print("| image | official whole fp32 (s) | torch fp32 tiled (s) | ratio | torch bf16 tiled (s) | ratio "
          "| bf16 PSNR vs fp32 (dB) | onnxruntime fp32 tiled (s) | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for height, width in sizes:
        image = photo(height, width)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1

        def official():
            with torch.no_grad():
                return ((generator.net(x)[0].permute(1, 2, 0).numpy() + 1) / 2 * 255).astype(np.uint8)

        t_whole, _ = timed(official, repeat)
        t_fp32, out_fp32 = timed(lambda: fp32.run(image, tiled), repeat)
        t_bf16, out_bf16 = timed(lambda: bf16.run(image, tiled), repeat)
        t_onnx, _ = timed(lambda: onnx.run(image, tiled), repeat)
        print(f"| {width}x{height} | {t_whole:.2f} | {t_fp32:.2f} | {t_fp32 / t_whole:.2f} | {t_bf16:.2f} "
              f"| {t_bf16 / t_whole:.2f} | {psnr(out_bf16, out_fp32):.1f} | {t_onnx:.2f} | {t_onnx / t_whole:.2f} |",
              flush=True)


def gpu_table(repeat: int) -> None:
    from cyclegan_fx.export.engine import unavailable_reason
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.runners.factory import open_runner
    from cyclegan_fx.runtime.config import RunOptions

    model = ModelStore().get("vintage")
    image = photo(2160, 3840)
    megapixels = image.shape[0] * image.shape[1] / 1e6
    setups = [("torch fp16", "fp16", "torch"), ("torch bf16", "bf16", "torch")]
    if unavailable_reason() is None:
        setups.append(("tensorrt fp16", "fp16", "tensorrt"))
    print(f"\nTable 3: 3840x2160 on {torch.cuda.get_device_name()}, exact statistics, best of {repeat}")
    print("| backend | tile | time (s) | MP/s |")
    print("| --- | --- | --- | --- |")
    for label, precision, backend in setups:
        runner = open_runner(model, "a2b", "cuda", precision, backend)
        for tile in (0, 1024):
            def run(r=runner, t=tile):
                out = r.run(image, RunOptions(work_size="full", tile=t))
                torch.cuda.synchronize()
                return out

            seconds, _ = timed(run, repeat)
            print(f"| {label} | {tile or 'whole'} | {seconds:.3f} | {megapixels / seconds:.1f} |", flush=True)


MEMORY_RUNS = [  # (--work-size, --precision, extra options)
    ("1024", "auto", []),
    ("full", "auto", []),
    ("full", "fp32", []),
    ("full", "fp32", ["--max-memory", "3.5G"]),
]


def memory_table() -> None:
    print("\nTable 2: 6000x4000 JPEG through `cyclegan-fx apply` on the CPU, exact statistics, each in a fresh process "
          f"(auto precision here: {'bf16' if cpu_has_native_bf16() else 'fp32'})")
    print("| --work-size | --precision | options | wall time end to end (s) | peak RSS (GiB) |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.jpg"
        cv2.imwrite(str(source), cv2.cvtColor(photo(4000, 6000), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        for work_size, precision, extra in MEMORY_RUNS:
            result = run_child(["-q", "apply", str(source), "-o", str(Path(tmp) / "out.jpg"), "--overwrite",
                                "--work-size", work_size, "--precision", precision, "--device", "cpu",
                                "--backend", "torch", *extra])
            print(f"| {work_size} | {precision} | {' '.join(extra) or '-'} | {result['seconds']:.1f} "
                  f"| {result['max_rss'] / 2**30:.2f} |", flush=True)


def run_child(cli_args: list[str]) -> dict:
    """Run the real CLI in a fresh interpreter and report its wall time and peak RSS."""
    code = (
        "import json, sys, time\n"
        "from cyclegan_fx.cli import cli\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    cli.main(args=sys.argv[1:], prog_name='cyclegan-fx', standalone_mode=False)\n"
        "finally:\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "    rss = int(status) * 1024  # VmHWM: this process's peak (ru_maxrss carries the parent's over exec)\n"
        "    print(json.dumps({'seconds': time.perf_counter() - start, 'max_rss': rss}))\n"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *cli_args], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["seconds"] = time.perf_counter() - start  # include interpreter start and imports
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x512 only")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("CYCLEGAN_FX_HOME", str(Path(tempfile.gettempdir()) / "cyclegan-fx-bench"))
    sizes = [(512, 512)] if args.quick else [(512, 512), (1536, 2048)]
    if not args.quick:
        memory_table()  # first, while this process is small
    speed_table(sizes, args.repeat)
    if torch.cuda.is_available():
        gpu_table(max(args.repeat, 3))


if __name__ == "__main__":
    main()
