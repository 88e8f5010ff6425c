"""Normalization layers with the official CycleGAN semantics."""

from __future__ import annotations

from typing import Literal

from torch import nn

NormKind = Literal["instance", "batch", "none"]
NORM_KINDS: tuple[NormKind, ...] = ("instance", "batch", "none")


def make_norm(kind: NormKind, channels: int, affine: bool = False) -> nn.Module:
    """One normalization layer; ``affine`` applies to instance norm only (batch norm is always affine)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORM_KINDS)}")


def conv_bias(kind: NormKind) -> bool:
    """Whether convolutions before this norm carry a bias, as in the official code.

    Batch norm has its own shift, so convs drop the bias; the official code also
    drops it for 'none' (its identity norm is not InstanceNorm2d), and checkpoint
    keys depend on it.
    """
    return kind == "instance"
