"""PyTorch backend: interprets a generator's program on CPU or CUDA in fp32, bf16 or fp16."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from cyclegan_fx.networks import Generator, OpKind
from cyclegan_fx.runtime.backend import NormStats, SegmentResult
from cyclegan_fx.runtime.schedule import Segment


class TorchBackend:
    """Stateless after construction: any number of threads may call ``run`` at once."""

    def __init__(self, generator: Generator, device: torch.device, dtype: torch.dtype) -> None:
        self.name = f"torch-{device.type}"
        self.device = device
        self.dtype = dtype
        self.program = generator.program
        net = copy.deepcopy(generator.net).eval().requires_grad_(False)
        self.net = net.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        # Tracing again binds the ops to the moved copy's modules.
        self.ops = type(generator.program).of(self.net, generator.in_channels).ops

    @torch.inference_mode()
    def run(
        self,
        segment: Segment,
        x: torch.Tensor,
        skips: Sequence[torch.Tensor],
        stats: Mapping[int, NormStats],
        record: bool = False,
    ) -> SegmentResult:
        x = x.contiguous(memory_format=torch.channels_last)
        stack = list(skips)
        saved: list[torch.Tensor] = []
        recorded: dict[int, NormStats] = {}
        for i in range(segment.start, segment.end):
            op = self.ops[i]
            if op.kind is OpKind.LAYER:
                x = op.module(x)
            elif op.kind is OpKind.NORM:
                if segment.local_norms:
                    if record:
                        recorded[i] = _tile_stats(x)
                    x = _local_norm(op.module, x)
                else:
                    x = apply_norm(x, op.module, stats[i])
            elif op.kind is OpKind.SAVE:
                stack.append(x)
                if i in segment.saves_out:
                    saved.append(x)
            elif op.kind is OpKind.ADD:
                x = stack.pop() + x
            else:
                x = torch.cat([stack.pop(), x], 1)
        return SegmentResult(x, saved, recorded)


def apply_norm(x: torch.Tensor, norm: nn.InstanceNorm2d, stats: NormStats) -> torch.Tensor:
    """Instance-normalize ``x`` with given statistics, computing in fp32 whatever ``x`` is."""
    scale = (stats.var + norm.eps).rsqrt()
    shift = -stats.mean * scale
    if norm.affine:
        weight, bias = norm.weight.double().cpu(), norm.bias.double().cpu()
        scale, shift = scale * weight, shift * weight + bias
    scale = scale.to(x.device, torch.float32).view(1, -1, 1, 1)
    shift = shift.to(x.device, torch.float32).view(1, -1, 1, 1)
    # Mixed dtypes promote to fp32 inside the kernel, without a separate fp32 copy of x.
    return torch.addcmul(shift, x, scale).to(x.dtype)


def _local_norm(norm: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
    """The module's own normalization, in fp32 so reduced precision cannot overflow its sums."""
    weight = norm.weight.float() if norm.affine else None
    bias = norm.bias.float() if norm.affine else None
    return nn.functional.instance_norm(x.float(), weight=weight, bias=bias, eps=norm.eps).to(x.dtype)


def _tile_stats(x: torch.Tensor) -> NormStats:
    """Mean and biased variance over the spatial axes of a batch of one."""
    flat = x[0].double().flatten(1)
    return NormStats(flat.mean(1).cpu(), flat.var(1, unbiased=False).cpu())
