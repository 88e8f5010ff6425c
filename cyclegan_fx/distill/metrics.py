"""Image similarity: PSNR and SSIM (Wang et al. 2004, Gaussian window 11 x 11, sigma 1.5), in torch."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

_WINDOW, _SIGMA = 11, 1.5
_K1, _K2 = 0.01, 0.03


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two images of one shape; infinite when they are equal."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


@functools.lru_cache(maxsize=8)
def _window(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(_WINDOW, dtype=torch.float64) - _WINDOW // 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).to(dtype=dtype, device=device).expand(channels, 1, _WINDOW, _WINDOW).contiguous()


def ssim_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM of N x C x H x W batches over the valid region (no padding), channels separately."""
    channels = a.shape[1]
    window = _window(channels, a.dtype, a.device)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM of two images (H x W x C arrays as tensors, or N x C x H x W batches)."""
    if a.ndim == 3:
        a, b = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    return ssim_map(a.double(), b.double(), data_range).mean().item()
