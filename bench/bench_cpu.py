"""CPU speed of the exact tiled runner against this machine's compute floor, measured in the same run.

    .venv/bin/python bench/bench_cpu.py            # 512x512, 2048x1536, 6000x4000 (about 15 minutes on 2 cores)
    .venv/bin/python bench/bench_cpu.py --quick    # 512x512 only
    .venv/bin/python bench/bench_cpu.py --precisions fp32   # where bf16 is emulated (no AVX-512 BF16)

The floor is the time the generator's multiply-accumulates take at the rate of large matrix
products in the same precision on the same threads (2048x2048 torch matmuls, measured before and
after the runs; the table uses their mean). Each run is a fresh process translating the sample
photo at full resolution with exact statistics on the real `vintage` generator, so its peak RSS
is its own; small images are timed as the best of three after a warm-up, large ones once. The
schedule column says which exact schedule ran: `auto` is the runner's choice (the stored schedule,
each layer once, where its canvases take at most a quarter of the free memory), `exact` the one
that recomputes the full-resolution ends instead, forced by a --max-memory just too small for the stored one.
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

import torch

SIZES = {"512x512": (512, 512), "2048x1536": (1536, 2048), "6000x4000": (4000, 6000)}
# (tile, schedule) rows per size
ROWS = {"512x512": [(None, "auto"), (None, "exact"), (128, "auto"), (256, "auto")],
        "2048x1536": [(None, "auto"), (None, "exact"), (256, "auto"), (512, "auto"), (1024, "auto")],
        "6000x4000": [(None, "auto")]}
CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import torch
from bench_apply import photo
from cyclegan_fx.models import ModelStore
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.devices import process_rss
from cyclegan_fx.runtime.executor import Grid
from cyclegan_fx.runtime.schedule import stored_schedule
from cyclegan_fx.runtime.sizing import HOST_RESERVE, memory_need
height, width, precision, tile, repeat, schedule = {height}, {width}, {precision!r}, {tile}, {repeat}, {schedule!r}
runner = open_runner(ModelStore().get("vintage"), "a2b", "cpu", precision, "torch")
image = photo(height, width)
limit = None
if schedule == "exact":
    program, itemsize = runner.generator.program, runner.backend.dtype.itemsize
    stored = memory_need(program, stored_schedule(program), Grid([], height, width, 1), itemsize)
    limit = process_rss() + HOST_RESERVE + int(stored) - 1
options = RunOptions(work_size="full", tile=tile, max_memory=limit)
if repeat > 1:
    runner.run(image, options)
best = float("inf")
for _ in range(repeat):
    start = time.perf_counter()
    runner.run(image, options)
    best = min(best, time.perf_counter() - start)
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({{"seconds": best, "peak": peak, "threads": torch.get_num_threads()}}))
"""


def matmul_rate(dtype: torch.dtype, size: int = 2048, repeat: int = 10) -> float:
    """FLOP/s of a large square matrix product on this process's threads."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def generator_flops_per_megapixel() -> float:
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.networks import Program

    generator = ModelStore().get("vintage").generator("a2b")
    program = Program.of(generator.net, generator.in_channels)
    return 2 * program.macs_per_pixel() * 1e6


def run_child(height: int, width: int, precision: str, tile: int | None, repeat: int, schedule: str) -> dict:
    code = CHILD.format(bench=str(Path(__file__).parent), height=height, width=width, precision=precision,
                        tile=tile, repeat=repeat, schedule=schedule)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x512 only")
    parser.add_argument("--precisions", default="fp32,bf16", help="Comma-separated: fp32, bf16.")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    os.environ.setdefault("CYCLEGAN_FX_HOME", str(Path(tempfile.gettempdir()) / "cyclegan-fx-bench"))
    sizes = ["512x512"] if args.quick else list(SIZES)
    flops = generator_flops_per_megapixel()
    dtypes = {p: {"fp32": torch.float32, "bf16": torch.bfloat16}[p] for p in precisions}
    before = {p: matmul_rate(d) for p, d in dtypes.items()}
    rows = []
    for name in sizes:
        height, width = SIZES[name]
        repeat = 3 if height * width <= 1 << 20 else 1
        for precision in precisions:
            for tile, schedule in ROWS[name]:
                rows.append((name, precision, tile, schedule,
                             run_child(height, width, precision, tile, repeat, schedule)))
                print(f"  done: {name} {precision} tile {tile or 'default'} {schedule}", file=sys.stderr, flush=True)
    after = {p: matmul_rate(d) for p, d in dtypes.items()}
    rate = {p: (before[p] + after[p]) / 2 for p in before}
    print(f"\nCPU: {torch.get_num_threads()} threads; generator: {flops / 1e12:.3f} TFLOP per megapixel")
    print("| precision | matmul GFLOP/s before | after | floor (s/MP) |")
    print("| --- | --- | --- | --- |")
    for p in rate:
        print(f"| {p} | {before[p] / 1e9:.0f} | {after[p] / 1e9:.0f} | {flops / rate[p]:.2f} |")
    print("\n| image | precision | --tile | schedule | s/MP | ratio to floor | peak RSS (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, precision, tile, schedule, result in rows:
        height, width = SIZES[name]
        per_mp = result["seconds"] / (height * width / 1e6)
        print(f"| {name} | {precision} | {tile or 'default'} | {schedule} | {per_mp:.2f} "
              f"| {per_mp / (flops / rate[precision]):.2f} | {result['peak'] / 2**30:.2f} |")


if __name__ == "__main__":
    main()
