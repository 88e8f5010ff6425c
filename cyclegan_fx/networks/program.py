"""A generator as a flat list of operations, with the geometry a tiled runner needs.

Tracing turns a generator's module tree into layers (convolutions, pads,
activations), normalizations (the only ops that need whole-image statistics) and
skip markers (save / add / concatenate). The list is what the runtime executes
tile by tile, and what the receptive field, size granularity and minimum size are
computed from, so none of them is hard-coded per architecture.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from torch import nn


class OpKind(enum.Enum):
    LAYER = "layer"  # any per-pixel or convolutional module
    NORM = "norm"  # instance normalization: needs statistics of the whole image
    SAVE = "save"  # remember the current activation for a later ADD or CAT
    ADD = "add"  # residual connection: add the saved activation
    CAT = "cat"  # U-Net skip: concatenate [saved, current] along channels


@dataclass(frozen=True, eq=False)
class Op:
    kind: OpKind
    module: nn.Module | None = None
    stride: int = 1  # > 1: output grid is coarser by this factor
    upscale: int = 1  # > 1: output grid is finer by this factor
    reach: int = 0  # context needed on each side, in pixels of this op's input grid
    pad: int = 0  # explicit reflection/replication padding (needs input larger than this)
    out_channels: int | None = None  # None: channels unchanged
    macs: int = 0  # multiply-accumulates per pixel of this op's input grid


_POINTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Dropout,
    nn.BatchNorm2d,  # eval mode: a per-channel affine map from running statistics
)


def leaf_op(module: nn.Module) -> Op:
    """Describe one leaf module."""
    if isinstance(module, nn.InstanceNorm2d):
        if module.track_running_stats:
            return Op(OpKind.LAYER, module)
        return Op(OpKind.NORM, module)
    if isinstance(module, nn.ConvTranspose2d):
        return _conv_transpose_op(module)
    if isinstance(module, nn.Conv2d):
        return _conv_op(module)
    if isinstance(module, (nn.ReflectionPad2d, nn.ReplicationPad2d)):
        return Op(OpKind.LAYER, module, pad=max(module.padding))
    if isinstance(module, nn.ZeroPad2d):
        return Op(OpKind.LAYER, module)
    if isinstance(module, _POINTWISE):
        return Op(OpKind.LAYER, module)
    raise TypeError(f"cannot trace module of type {type(module).__name__}")


def _conv_op(conv: nn.Conv2d) -> Op:
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    if sh != sw:
        raise TypeError("anisotropic strides are not supported")
    reach = max(math.ceil((kh - 1) * dh / 2), math.ceil((kw - 1) * dw / 2))
    macs = conv.in_channels * conv.out_channels * kh * kw // (conv.groups * sh * sh)
    return Op(OpKind.LAYER, conv, stride=sh, reach=reach, out_channels=conv.out_channels, macs=macs)


def _conv_transpose_op(conv: nn.ConvTranspose2d) -> Op:
    (kh, kw), (sh, sw) = conv.kernel_size, conv.stride
    if sh != sw:
        raise TypeError("anisotropic strides are not supported")
    # An output pixel mixes input pixels within (k - 1) / (2 s) of its own position.
    reach = max(math.ceil((kh - 1) / (2 * sh)), math.ceil((kw - 1) / (2 * sw)))
    macs = conv.in_channels * conv.out_channels * kh * kw // conv.groups
    return Op(OpKind.LAYER, conv, upscale=sh, reach=reach, out_channels=conv.out_channels, macs=macs)


def trace(module: nn.Module) -> list[Op]:
    """Flatten a module tree; blocks with skip connections provide ``program_ops()``."""
    custom = getattr(module, "program_ops", None)
    if custom is not None:
        return list(custom())
    if isinstance(module, nn.Sequential):
        return [op for child in module for op in trace(child)]
    return [leaf_op(module)]


class Program:
    """The traced operations of a generator and the geometry derived from them.

    Positions are indices into ``ops``; "scale" is how many input pixels one
    pixel of the grid before an op spans (1 at full resolution, 4 after two
    stride-2 convolutions).
    """

    def __init__(self, ops: Sequence[Op], in_channels: int) -> None:
        self.ops: tuple[Op, ...] = tuple(ops)
        self.in_channels = in_channels
        self.scale_before: list[int] = []
        self.channels_before: list[int] = []
        self.partner: dict[int, int] = {}
        self._walk()

    @classmethod
    def of(cls, net: nn.Module, in_channels: int) -> Program:
        return cls(trace(net), in_channels)

    def _walk(self) -> None:
        scale, channels, saved = 1, self.in_channels, []
        for i, op in enumerate(self.ops):
            self.scale_before.append(scale)
            self.channels_before.append(channels)
            if op.kind is OpKind.SAVE:
                saved.append((i, channels))
            elif op.kind in (OpKind.ADD, OpKind.CAT):
                j, skip_channels = saved.pop()
                self.partner[i], self.partner[j] = j, i
                if op.kind is OpKind.CAT:
                    channels += skip_channels
            if op.out_channels is not None:
                channels = op.out_channels
            scale = scale * op.stride
            if scale % op.upscale:
                raise TypeError("upsampling beyond the input resolution is not supported")
            scale //= op.upscale
        if saved or scale != 1:
            raise TypeError("program does not return to the input grid with all skips closed")
        self.out_channels = channels

    def __len__(self) -> int:
        return len(self.ops)

    @cached_property
    def norms(self) -> tuple[int, ...]:
        return tuple(i for i, op in enumerate(self.ops) if op.kind is OpKind.NORM)

    @cached_property
    def granularity(self) -> int:
        """Input sizes and tile offsets must be multiples of this for the grids to line up."""
        return max(self.scale_before)

    def radius(self, start: int = 0, end: int | None = None) -> int:
        """Receptive-field radius, in input pixels, of ops ``start..end-1``."""
        stop = len(self.ops) if end is None else end
        return sum(self.ops[i].reach * self.scale_before[i] for i in range(start, stop))

    @cached_property
    def min_size(self) -> int:
        """Smallest input side (a multiple of the granularity) every padding layer accepts."""
        need = max(((op.pad + 1) * self.scale_before[i] for i, op in enumerate(self.ops)), default=1)
        return _round_up(max(need, self.granularity), self.granularity)

    def density(self, position: int) -> float:
        """Activation values per input pixel just before op ``position``."""
        return self.channels_before[position] / self.scale_before[position] ** 2

    def macs_per_pixel(self, start: int = 0, end: int | None = None) -> float:
        """Multiply-accumulates per input pixel of ops ``start..end-1``."""
        stop = len(self.ops) if end is None else end
        return sum(self.ops[i].macs / self.scale_before[i] ** 2 for i in range(start, stop))


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
