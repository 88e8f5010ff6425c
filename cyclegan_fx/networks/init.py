"""Weight initialization as in the official CycleGAN (``init_type``, gain 0.02)."""

from __future__ import annotations

from typing import Literal

from torch import nn
from torch.nn import init

InitType = Literal["normal", "xavier", "kaiming", "orthogonal"]
INIT_TYPES: tuple[InitType, ...] = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: InitType = "normal", gain: float = 0.02) -> nn.Module:
    """Initialize conv/linear weights by ``init_type`` and batch-norm scales around 1; biases to 0."""
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; expected one of {', '.join(INIT_TYPES)}")
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            _init_weight(module.weight, init_type, gain)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.normal_(module.weight, 1.0, gain)
            init.zeros_(module.bias)
    return net


def _init_weight(weight: nn.Parameter, init_type: InitType, gain: float) -> None:
    if init_type == "normal":
        init.normal_(weight, 0.0, gain)
    elif init_type == "xavier":
        init.xavier_normal_(weight, gain=gain)
    elif init_type == "kaiming":
        init.kaiming_normal_(weight, a=0, mode="fan_in")
    else:
        init.orthogonal_(weight, gain=gain)
