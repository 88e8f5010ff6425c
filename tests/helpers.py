"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np
import torch

from cyclegan_fx.networks import Generator, ResnetConfig, build_generator, init_weights


def tiny_generator(seed: int = 0, **params) -> Generator:
    """A small, randomly initialized ResNet generator: fast, with real instance norms."""
    torch.manual_seed(seed)
    config = ResnetConfig(**{"ngf": 8, "n_blocks": 2, **params})
    generator = build_generator("resnet", config)
    init_weights(generator.net, "normal", 0.2)
    generator.net.eval()
    return generator


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)
