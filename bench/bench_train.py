"""Training speed: iterations per second and peak memory of one CycleGAN step, default networks.

    .venv/bin/python bench/bench_train.py            # CPU fp32 (and the GPU, where there is one)
    .venv/bin/python bench/bench_train.py --steps 20

Each configuration runs in a fresh process so that its peak memory is its own: on the CPU
the process's peak RSS (VmHWM), on a GPU torch.cuda.max_memory_allocated. Ratios are
against fp32 on the same device in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def child(device: str, amp: str, size: int, steps: int) -> dict:
    """One configuration: warm up, then time ``steps`` training steps."""
    import torch

    from cyclegan_fx.training.config import TrainConfig
    from cyclegan_fx.training.loop import train_step
    from cyclegan_fx.training.model import build_cyclegan

    config = TrainConfig(amp=amp, crop_size=size)
    m = build_cyclegan(config, torch.device(device))
    real_a, real_b = (torch.rand(1, 3, size, size, device=device) * 2 - 1 for _ in range(2))
    for _ in range(2):
        train_step(m, real_a, real_b)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(m, real_a, real_b)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
    return {"it_s": steps / (time.perf_counter() - start), "peak": peak}


def measure(device: str, amp: str, size: int, steps: int) -> dict:
    code = f"import json, sys; sys.path.insert(0, 'bench'); import bench_train as b; print(json.dumps(b.child({device!r}, {amp!r}, {size}, {steps})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    setups = [("cpu", "off")]
    if torch.cuda.is_available():
        setups += [("cuda", "off"), ("cuda", "bf16"), ("cuda", "fp16")]
    print(f"CycleGAN training step, default networks (resnet_9blocks, basic PatchGAN), {args.size}x{args.size}, "
          f"batch 1, {args.steps} timed steps")
    print("| device | precision | it/s | peak memory (GiB) | speed-up vs fp32 on the device |")
    print("| --- | --- | --- | --- | --- |")
    baseline: dict[str, float] = {}
    for device, amp in setups:
        result = measure(device, amp, args.size, args.steps)
        baseline.setdefault(device, result["it_s"])
        precision = "fp32" if amp == "off" else f"{amp} AMP"
        print(f"| {device} | {precision} | {result['it_s']:.2f} | {result['peak'] / 2**30:.2f} "
              f"| {result['it_s'] / baseline[device]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
