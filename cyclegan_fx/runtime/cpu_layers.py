"""CPU speed paths: layers oneDNN runs slowly swapped for faster equivalents, and the CPU backends' tuning."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn

from cyclegan_fx.networks import Op
from cyclegan_fx.runtime.backend import Tuning

NARROW = 8  # output channels below which a convolution's matrix product is too thin to vectorize
# A ResNet's bottleneck tile holds a third of the values per pixel of its widest full-size layer: at 512
# its input is about 9 MB in bf16 and a run peaks within 3% of narrow cores, with less overlap and fewer
# calls. Statistics are summed in bands of about 1 MiB so each band's float32 copy stays in cache
# (converting a whole core at once leaves the cache and costs more than the sums).
CPU_TUNING = Tuning(wide_core=512, moment_band=1 << 18)


class ColumnSplitConv2d(nn.Module):
    """A k x k convolution to a few channels as a k x 1 convolution to k times as many, plus k shifted adds.

    A 7x7 convolution from 64 channels to RGB gives the matrix product only three output
    columns; splitting the kernel's columns into channels gives it 21, and the seven
    shifted sums are accumulated in fp32. About 2.5x faster on AVX-512 CPUs in bf16.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        out, _, _, self.width = conv.weight.shape
        self.out_channels = out
        columns = conv.weight.permute(0, 3, 1, 2).reshape(out * self.width, conv.in_channels, -1, 1)
        self.register_buffer("weight", columns.contiguous(memory_format=torch.channels_last))
        bias = conv.bias if conv.bias is not None else torch.zeros(out, dtype=conv.weight.dtype)
        self.register_buffer("bias", bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = nn.functional.conv2d(x, self.weight)  # (N, out * k, H - k + 1, W)
        n, _, height, width = parts.shape
        columns = parts.permute(0, 2, 3, 1).reshape(n, height, width, self.out_channels, self.width)
        out_width = width - self.width + 1
        acc = columns[:, :, :out_width, :, 0].float() + self.bias
        for dx in range(1, self.width):
            acc += columns[:, :, dx : dx + out_width, :, dx]
        return acc.to(x.dtype).permute(0, 3, 1, 2)


def splittable(module: nn.Module | None) -> bool:
    """A plain square convolution to a few channels: stride 1, no padding, dilation or groups."""
    return (
        type(module) is nn.Conv2d
        and module.out_channels < NARROW
        and module.kernel_size[0] == module.kernel_size[1] > 1
        and module.stride == (1, 1)
        and module.padding == (0, 0)
        and module.dilation == (1, 1)
        and module.groups == 1
    )


def for_cpu(ops: Sequence[Op]) -> list[Op]:
    """The ops with each layer oneDNN runs slowly replaced by its faster equivalent."""
    return [dataclasses.replace(op, module=ColumnSplitConv2d(op.module)) if splittable(op.module) else op for op in ops]
