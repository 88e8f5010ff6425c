"""Running a span of a generator's program: the one interpreter behind every backend.

The PyTorch backend calls ``run_ops`` directly; exporters trace the same code, so an
exported graph computes exactly what the interpreter does. Norms with given statistics
take the mean and variance as inputs; their epsilon and affine weights stay inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from cyclegan_fx.networks import Op, OpKind
from cyclegan_fx.runtime.backend import NormStats
from cyclegan_fx.runtime.schedule import Segment

NormInputs = Mapping[int, tuple[torch.Tensor, torch.Tensor]]  # position -> (mean, var), fp32, (B, C, 1, 1)


def norm_inputs(ops: Sequence[Op], segment: Segment, stats: Mapping[int, NormStats], device: torch.device) -> dict:
    """Mean and variance, as graph inputs, of every norm inside ``segment`` that uses given statistics."""
    return {
        i: tuple(_as_input(t).to(device) for t in (stats[i].mean, stats[i].var)) for i in known_norms(ops, segment)
    }


def named_statistic(name: str, stats: Mapping[int, NormStats]) -> torch.Tensor:
    """The value of a ``mean<p>`` or ``var<p>`` graph input: fp32, shape (B, C, 1, 1), on the CPU."""
    value = stats[int(name[4:])].mean if name.startswith("mean") else stats[int(name[3:])].var
    return _as_input(value)


def _as_input(value: torch.Tensor) -> torch.Tensor:
    """(B, C) float64 statistics as a (B, C, 1, 1) fp32 tensor that broadcasts over a tile batch."""
    return value.to(torch.float32).reshape(*value.shape, 1, 1)


def known_norms(ops: Sequence[Op], segment: Segment) -> list[int]:
    """Positions of the norms inside ``segment`` that take their statistics as inputs."""
    if segment.local_norms:
        return []
    return [i for i in range(segment.start, segment.end) if ops[i].kind is OpKind.NORM]


def run_ops(
    ops: Sequence[Op], segment: Segment, x: torch.Tensor, skips: Sequence[torch.Tensor], norms: NormInputs
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Activation at ``segment.end`` and the SAVE outputs that later segments need."""
    stack = list(skips)
    saved = []
    given = x  # the caller's tensor (possibly a view of a canvas): never written to
    for i in range(segment.start, segment.end):
        op = ops[i]
        if op.kind is OpKind.LAYER:
            x = op.module(x.clone() if x is given and getattr(op.module, "inplace", False) else x)
        elif op.kind is OpKind.NORM:
            x = local_norm(op.module, x) if segment.local_norms else given_norm(op.module, x, *norms[i])
        elif op.kind is OpKind.SAVE:
            stack.append(x)
            if i in segment.saves_out:
                saved.append(x)
        elif op.kind is OpKind.ADD:
            x = stack.pop() + x
        else:
            x = torch.cat([stack.pop(), x], 1)
    return x, saved


def given_norm(norm: nn.InstanceNorm2d, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Instance norm with given statistics, computed in fp32 whatever x is (fp16 sums overflow)."""
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        return _given_norm_eager(norm, x, mean, var)
    scale = torch.rsqrt(var + norm.eps)
    shift = -mean * scale
    if norm.affine:
        weight, bias = norm.weight.float().view(1, -1, 1, 1), norm.bias.float().view(1, -1, 1, 1)
        scale, shift = scale * weight, shift * weight + bias
    return torch.addcmul(shift, x.float(), scale).to(x.dtype)


def _given_norm_eager(norm: nn.InstanceNorm2d, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """The same norm as one pass per tile: inference batch_norm takes bf16 activations with fp32 statistics
    and computes in fp32 (the formula above costs four passes over the tile, two of them in fp32)."""
    weight = norm.weight.float() if norm.affine else None
    bias = norm.bias.float() if norm.affine else None
    rows = [
        torch.batch_norm(x[b : b + 1], weight, bias, mean[b].flatten(), var[b].flatten(), False, 0.0, norm.eps, False)
        for b in range(x.shape[0])
    ]
    return rows[0] if len(rows) == 1 else torch.cat(rows)


def local_norm(norm: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
    """The module's own instance normalization, computed in fp32."""
    weight = norm.weight.float() if norm.affine else None
    bias = norm.bias.float() if norm.affine else None
    return nn.functional.instance_norm(x.float(), weight=weight, bias=bias, eps=norm.eps).to(x.dtype)
