"""The U-Net generator, with module layout and state_dict keys of the official CycleGAN."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from cyclegan_fx.networks.norms import NormKind, conv_bias, make_norm
from cyclegan_fx.networks.program import Op, OpKind, trace


@dataclass(frozen=True)
class UnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    num_downs: int = 8  # 7: unet_128, 8: unet_256
    ngf: int = 64
    norm: NormKind = "instance"
    affine: bool = False
    dropout: bool = False


class UnetSkipConnectionBlock(nn.Module):
    """Downsample, run the inner block, upsample; all but the outermost concatenate their input."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        config: UnetConfig,
        submodule: nn.Module | None = None,
        input_nc: int | None = None,
        outermost: bool = False,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(config.norm)
        norm = config.norm
        downconv = nn.Conv2d(input_nc or outer_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif submodule is None:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, make_norm(norm, outer_nc, config.affine)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                downconv,
                make_norm(norm, inner_nc, config.affine),
                submodule,
                nn.ReLU(True),
                upconv,
                make_norm(norm, outer_nc, config.affine),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)

    def program_ops(self) -> list[Op]:
        if self.outermost:
            return trace(self.model)
        return [Op(OpKind.SAVE), *trace(self.model), Op(OpKind.CAT)]


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels: a 2**num_downs image reaches 1x1 at the bottom."""

    def __init__(self, config: UnetConfig = UnetConfig()) -> None:
        super().__init__()
        ngf = config.ngf
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, config)
        for _ in range(config.num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, config, block, dropout=config.dropout)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, config, block)
        self.config = config
        self.model = UnetSkipConnectionBlock(config.output_nc, ngf, config, block, config.input_nc, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def program_ops(self) -> list[Op]:
        return trace(self.model)


_DOWNCONV = re.compile(r"^model\.((?:model\.\d+\.)*)model\.1\.weight$")


def detect(state: Mapping[str, torch.Tensor]) -> UnetConfig | None:
    """Read a UnetConfig off an official-layout state_dict, or None if it is not one.

    Dropout has no parameters and does not shift any key, so it cannot be seen
    (and does nothing at inference): it is reported as off.
    """
    outer_down, outer_up = state.get("model.model.0.weight"), state.get("model.model.3.weight")
    if outer_down is None or outer_up is None or outer_down.ndim != 4 or tuple(outer_down.shape[2:]) != (4, 4):
        return None
    inner = [k for k in state if _DOWNCONV.match(k)]
    if not inner:
        return None
    # The downconv of level L (1 = outermost) has L + 1 "model." parts in its key.
    num_downs = max(k.count("model.") for k in inner) - 1
    prefix = "model.model.1.model."
    has_bias = "model.model.0.bias" in state and f"{prefix}1.bias" in state
    has_norm_weight = f"{prefix}2.weight" in state
    norm: NormKind = "instance" if has_bias else ("batch" if has_norm_weight else "none")
    return UnetConfig(
        input_nc=outer_down.shape[1],
        output_nc=outer_up.shape[1],
        num_downs=num_downs,
        ngf=outer_down.shape[0],
        norm=norm,
        affine=norm == "instance" and has_norm_weight,
    )
