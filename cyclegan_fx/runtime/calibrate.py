"""Which CPU backend is faster on this machine: measured once, remembered in the cache dir."""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import torch

from cyclegan_fx.models.store import cache_home

log = logging.getLogger("cyclegan_fx")
_REPEAT = 2


def fastest_cpu_backend() -> str:
    """"torch" or "onnxruntime", for fp32 on this CPU."""
    try:
        import onnxruntime
    except ImportError:
        return "torch"
    key = f"{_cpu_name()}|torch {torch.__version__}|onnxruntime {onnxruntime.__version__}|{torch.get_num_threads()}"
    path = cache_home() / "cpu-backends.json"
    known = _read(path)
    if key not in known:
        log.info("Measuring which CPU backend is faster here (once)...")
        known[key] = _measure()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=2))
    timings = known[key]
    return min(timings, key=timings.get)


def _measure() -> dict[str, float]:
    """Seconds per exact tiled run of a small ResNet generator on a 384x512 image, per backend."""
    from cyclegan_fx.export.build import build_onnx_pack
    from cyclegan_fx.export.verify import photo_like
    from cyclegan_fx.networks import ResnetConfig, build_generator
    from cyclegan_fx.runtime.config import RunOptions
    from cyclegan_fx.runtime.onnx_backend import OnnxRuntimeBackend
    from cyclegan_fx.runtime.runner import Runner
    from cyclegan_fx.runtime.torch_backend import TorchBackend

    generator = build_generator("resnet", ResnetConfig(n_blocks=1))
    image = photo_like(1, 384, 512)[0].permute(1, 2, 0).add(1).mul(0.5).numpy()
    options = RunOptions(tile=256)
    with tempfile.TemporaryDirectory() as tmp:
        pack = build_onnx_pack(generator, {}, "fp32", Path(tmp) / "probe.pack")
        runners = {
            "torch": Runner(generator, TorchBackend(generator, torch.device("cpu"), torch.float32)),
            "onnxruntime": Runner(generator, OnnxRuntimeBackend(pack)),
        }
        return {name: _time(lambda r=runner: r.translate(image, options)) for name, runner in runners.items()}


def _time(fn) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(_REPEAT):
        fn()
    return (time.perf_counter() - start) / _REPEAT


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
