"""Check an exported generator graph against PyTorch before calling an export done."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan_fx.extras import require_extra
from cyclegan_fx.networks import Generator

log = logging.getLogger("cyclegan_fx")

# square, non-square, batch > 1; sides are multiples of every granularity up to 64
CHECK_SHAPES = ((1, 256, 256), (1, 192, 320), (2, 128, 192))
MIN_PSNR = {"fp32": 60.0, "fp16": 40.0}


@dataclass(frozen=True)
class Check:
    shape: tuple[int, ...]
    max_abs: float
    psnr: float


def photo_like(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [-1, 1] with edges: closer to photos than white noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, max(2, height // 16), max(2, width // 16), generator=g)
    smooth = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    detail = torch.rand(batch, 3, height, width, generator=g) * 0.1
    return (smooth + detail).clamp(0, 1) * 2 - 1


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 2.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def check_generator_graph(model: bytes | str, generator: Generator, precision: str) -> list[Check]:
    """Run the whole-generator graph in ONNX Runtime (CPU) and PyTorch fp32 at three shapes."""
    ort = require_extra("onnxruntime")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    dtype = np.float16 if precision == "fp16" else np.float32
    checks = []
    for batch, height, width in CHECK_SHAPES:
        x = photo_like(batch, height, width)
        with torch.inference_mode():
            expected = generator.net.eval()(x).numpy()
        got = session.run(["output"], {"input": x.numpy().astype(dtype)})[0].astype(np.float32)
        check = Check((batch, 3, height, width), float(np.abs(got - expected).max()), psnr(got, expected))
        log.info("  %-16s max |diff| %.2e  PSNR %.1f dB", "x".join(map(str, check.shape)), check.max_abs, check.psnr)
        checks.append(check)
    return checks


def failed(checks: list[Check], precision: str) -> list[Check]:
    return [c for c in checks if not c.psnr >= MIN_PSNR[precision]]
