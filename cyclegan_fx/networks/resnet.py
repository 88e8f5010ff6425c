"""The ResNet generator, with module layout and state_dict keys of the official CycleGAN.

With ``rank`` > 0 its 3x3 convolutions between the two 7x7 ones are factorised: a convolution to ``rank``
channels followed by a 1x1 back to the full width (for a transposed convolution, the 1x1 first). That is the
shape a truncated SVD of a trained generator's weights takes (``networks.factorise``), so a student can start
from its teacher instead of from noise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from cyclegan_fx.networks.norms import NormKind, conv_bias, make_norm
from cyclegan_fx.networks.program import Op, OpKind, trace

N_DOWNSAMPLING = 2


@dataclass(frozen=True)
class ResnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: NormKind = "instance"
    affine: bool = False  # learnable InstanceNorm scale/shift (the vintagify layout)
    dropout: bool = False
    rank: int = 0  # 0: full 3x3 convolutions (the official layout); N: factorised through N channels


def conv3x3(in_channels: int, out_channels: int, rank: int, bias: bool, stride: int = 1, padding: int = 0) -> nn.Module:
    """A 3x3 convolution, or with ``rank`` > 0 a 3x3 to ``rank`` channels and a 1x1 to ``out_channels``."""
    if not rank:
        return nn.Conv2d(in_channels, out_channels, 3, stride, padding, bias=bias)
    rank = min(rank, out_channels, in_channels * 9)  # no wider than the weight matrix's own rank
    return nn.Sequential(nn.Conv2d(in_channels, rank, 3, stride, padding, bias=False),
                         nn.Conv2d(rank, out_channels, 1, bias=bias))


def up3x3(in_channels: int, out_channels: int, rank: int, bias: bool) -> nn.Module:
    """A stride-2 transposed 3x3 convolution, or with ``rank`` > 0 a 1x1 to ``rank`` channels before it."""
    rank = min(rank, in_channels, out_channels * 9)
    up = nn.ConvTranspose2d(rank or in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias)
    return nn.Sequential(nn.Conv2d(in_channels, rank, 1, bias=False), up) if rank else up


class ResnetBlock(nn.Module):
    """pad, conv, norm, relu, [dropout], pad, conv, norm; plus the input."""

    def __init__(self, dim: int, norm: NormKind, affine: bool, dropout: bool, rank: int = 0) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            conv3x3(dim, dim, rank, bias),
            make_norm(norm, dim, affine),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            conv3x3(dim, dim, rank, bias),
            make_norm(norm, dim, affine),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)

    def program_ops(self) -> list[Op]:
        return [Op(OpKind.SAVE), *trace(self.conv_block), Op(OpKind.ADD)]


class ResnetGenerator(nn.Module):
    """Encoder (7x7 conv, two stride-2 convs), residual blocks, decoder (two transposed convs, 7x7 conv)."""

    def __init__(self, config: ResnetConfig = ResnetConfig()) -> None:
        super().__init__()
        c, bias = config, conv_bias(config.norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.input_nc, c.ngf, kernel_size=7, bias=bias),
            make_norm(c.norm, c.ngf, c.affine),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            mult = 2**i
            layers += [
                conv3x3(c.ngf * mult, c.ngf * mult * 2, c.rank, bias, stride=2, padding=1),
                make_norm(c.norm, c.ngf * mult * 2, c.affine),
                nn.ReLU(True),
            ]
        width = c.ngf * 2**N_DOWNSAMPLING
        layers += [ResnetBlock(width, c.norm, c.affine, c.dropout, c.rank) for _ in range(c.n_blocks)]
        for i in range(N_DOWNSAMPLING):
            mult = 2 ** (N_DOWNSAMPLING - i)
            layers += [
                up3x3(c.ngf * mult, c.ngf * mult // 2, c.rank, bias),
                make_norm(c.norm, c.ngf * mult // 2, c.affine),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c.ngf, c.output_nc, kernel_size=7), nn.Tanh()]
        self.config = config
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def program_ops(self) -> list[Op]:
        return trace(self.model)


# A block's convolution, or the first factor of a factorised one.
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(?:0\.)?weight$")
_FIRST_CONV, _FIRST_NORM = "model.1.weight", "model.2"


def detect(state: Mapping[str, torch.Tensor]) -> ResnetConfig | None:
    """Read a ResnetConfig off an official-layout state_dict, or None if it is not one."""
    first = state.get(_FIRST_CONV)
    if first is None or first.ndim != 4 or tuple(first.shape[2:]) != (7, 7):
        return None
    blocks = sorted({int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))})
    if not blocks or blocks != list(range(blocks[0], blocks[0] + len(blocks))):
        return None
    second_conv = {int(m.group(2)) for k in state if (m := _BLOCK_KEY.match(k)) and state[k].ndim == 4}
    has_bias = "model.1.bias" in state
    has_norm_weight = f"{_FIRST_NORM}.weight" in state
    norm: NormKind = "instance" if has_bias else ("batch" if has_norm_weight else "none")
    last_conv = state.get(f"model.{blocks[-1] + 2 * N_DOWNSAMPLING + 3 + 1}.weight")
    if last_conv is None:
        return None
    factor = state.get(f"model.{blocks[0]}.conv_block.1.0.weight")
    return ResnetConfig(
        input_nc=first.shape[1],
        output_nc=last_conv.shape[0],
        ngf=first.shape[0],
        n_blocks=len(blocks),
        norm=norm,
        affine=norm == "instance" and has_norm_weight,
        dropout=6 in second_conv,
        rank=0 if factor is None else factor.shape[0],
    )
