"""The compact generator: a student built for speed, learning the change a teacher makes to its input.

The image is folded into channels (pixel unshuffle by ``factor``), residual blocks run at that coarse grid
only, and the result is unfolded (pixel shuffle) and added to the input. No layer runs at full resolution,
so the memory-bound full-size activations of the ResNet (a 7x7 convolution, a norm and a ReLU on ``ngf``
channels at every pixel, twice) are gone; with the global skip the network starts as the identity's
neighbour and only has to learn the change, which for a photo filter is mostly smooth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from cyclegan_fx.networks.program import Op, OpKind, trace
from cyclegan_fx.networks.resnet import ResnetBlock


@dataclass(frozen=True)
class CompactConfig:
    input_nc: int = 3
    output_nc: int = 3
    channels: int = 64  # width of the residual blocks at the folded grid
    n_blocks: int = 9
    factor: int = 4  # pixel-unshuffle factor: the blocks run at 1 / factor of the resolution


class CompactGenerator(nn.Module):
    """unshuffle, conv to ``channels`` and ReLU, blocks, conv back, shuffle; plus the input, clamped to [-1, 1]."""

    def __init__(self, config: CompactConfig = CompactConfig()) -> None:
        super().__init__()
        if config.input_nc != config.output_nc:
            raise ValueError("the compact generator adds its input to its output: input_nc must equal output_nc")
        c, folded = config.channels, config.input_nc * config.factor**2
        self.config = config
        self.fold = nn.PixelUnshuffle(config.factor)
        # No norm in the head: the blocks must see the input's absolute levels to know what to add to them.
        self.head = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(folded, c, 3), nn.ReLU(True))
        # The ResNet's residual block, with learnable norm scale and shift.
        self.blocks = nn.Sequential(*[ResnetBlock(c, "instance", True, False) for _ in range(config.n_blocks)])
        self.tail = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, folded, 3))
        self.unfold = nn.PixelShuffle(config.factor)
        self.clamp = nn.Hardtanh(-1.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        change = self.unfold(self.tail(self.blocks(self.head(self.fold(x)))))
        return self.clamp(x + change)

    def program_ops(self) -> list[Op]:
        f, folded = self.config.factor, self.config.input_nc * self.config.factor**2
        return [
            Op(OpKind.SAVE),
            Op(OpKind.LAYER, self.fold, stride=f, out_channels=folded),
            *trace(self.head), *trace(self.blocks), *trace(self.tail),
            Op(OpKind.LAYER, self.unfold, upscale=f, out_channels=self.config.output_nc),
            Op(OpKind.ADD),
            Op(OpKind.LAYER, self.clamp),
        ]


def detect(state: Mapping[str, torch.Tensor]) -> CompactConfig | None:
    """Read a CompactConfig off a state_dict with this module's keys, or None if it is not one."""
    head, tail = state.get("head.1.weight"), state.get("tail.1.weight")
    if head is None or tail is None or head.ndim != 4 or tail.ndim != 4:
        return None
    folded, channels = head.shape[1], head.shape[0]
    if tail.shape[0] != folded:
        return None
    # Colour or grey: 3 * f^2 is never a square, so the folded width tells the two apart.
    for nc in (3, 1):
        factor = round((folded / nc) ** 0.5)
        if factor > 1 and nc * factor**2 == folded:
            blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
            return CompactConfig(input_nc=nc, output_nc=nc, channels=channels, n_blocks=len(blocks), factor=factor)
    return None
