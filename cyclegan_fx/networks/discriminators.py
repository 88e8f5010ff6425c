"""PatchGAN and pixel discriminators, with the official CycleGAN module layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from cyclegan_fx.networks.norms import NormKind, conv_bias, make_norm

DiscriminatorKind = Literal["basic", "n_layers", "pixel"]


@dataclass(frozen=True)
class DiscriminatorConfig:
    kind: DiscriminatorKind = "basic"
    input_nc: int = 3
    ndf: int = 64
    n_layers: int = 3  # used by "n_layers"; "basic" is 3
    norm: NormKind = "instance"


class NLayerDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches (70x70 with 3 layers) as real or fake."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: NormKind = "instance") -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=bias),
                make_norm(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: classifies every pixel on its own."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: NormKind = "instance") -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias),
            make_norm(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_discriminator(config: DiscriminatorConfig) -> nn.Module:
    """The discriminator named by ``config.kind``."""
    if config.kind == "pixel":
        return PixelDiscriminator(config.input_nc, config.ndf, config.norm)
    n_layers = 3 if config.kind == "basic" else config.n_layers
    return NLayerDiscriminator(config.input_nc, config.ndf, n_layers, config.norm)
