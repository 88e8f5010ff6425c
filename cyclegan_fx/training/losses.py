"""The GAN objectives of the official CycleGAN, and the WGAN-GP gradient penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def gan_loss(prediction: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
    """lsgan: MSE to 1/0; vanilla: BCE with logits to 1/0; wgangp: -mean for real, +mean for fake."""
    if mode == "wgangp":
        return -prediction.mean() if target_is_real else prediction.mean()
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    if mode == "lsgan":
        return F.mse_loss(prediction, target)
    return F.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP: ``weight`` x (|grad D| - 1)^2 at random mixes of real and fake, per image (official "mixed")."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = discriminator(mixed)
    (gradients,) = torch.autograd.grad(scores, mixed, torch.ones_like(scores), create_graph=True)
    norms = (gradients.flatten(1) + 1e-16).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean() * weight
