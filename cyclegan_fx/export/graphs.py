"""What gets exported: one graph per segment the runner can ask for, with fixed input/output names.

A segment graph takes ``x``, then ``skip0..`` (skip activations saved by earlier
segments), then ``mean<p>``/``var<p>`` (B, C, 1, 1), one row per tile, for every norm
at position ``p`` that uses given statistics; it returns ``out`` and ``save0..``. The whole generator with its
own norms is the segment 0..end with local statistics, exported as
``input`` -> ``output`` so it is an ordinary CycleGAN ONNX file for other tools.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from cyclegan_fx.networks import Generator, Op, Program
from cyclegan_fx.runtime.interpreter import known_norms, run_ops
from cyclegan_fx.runtime.schedule import Segment, exact_schedule, segment, stored_schedule


@dataclass(frozen=True)
class GraphSignature:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic: tuple[str, ...]  # inputs and outputs with dynamic batch, height and width (statistics: batch only)


def required_segments(program: Program) -> list[Segment]:
    """Every segment a Runner may run: the stored and exact sweeps, and the whole program with local and given norms."""
    found = [sweep.segment for schedule in (stored_schedule(program), exact_schedule(program)) for sweep in schedule.sweeps]
    found += [segment(program, 0, len(program), local_norms=True), segment(program, 0, len(program))]
    return list(dict.fromkeys(found))


def is_whole_generator(seg: Segment, program: Program) -> bool:
    return seg.local_norms and seg.start == 0 and seg.end == len(program)


def signature(ops: tuple[Op, ...], seg: Segment, program: Program) -> GraphSignature:
    if is_whole_generator(seg, program):
        return GraphSignature(("input",), ("output",), ("input", "output"))
    skips = tuple(f"skip{k}" for k in range(len(seg.skips_in)))
    norms = tuple(name for p in known_norms(ops, seg) for name in (f"mean{p}", f"var{p}"))
    saves = tuple(f"save{k}" for k in range(len(seg.saves_out)))
    return GraphSignature(("x", *skips, *norms), ("out", *saves), ("x", *skips, "out", *saves))


class SegmentModule(nn.Module):
    """``run_ops`` over one segment as a module with flat tensor inputs, for tracing."""

    def __init__(self, ops: tuple[Op, ...], seg: Segment) -> None:
        super().__init__()
        self.ops, self.segment = ops, seg
        self.layers = nn.ModuleList(op.module for op in ops[seg.start : seg.end] if op.module is not None)
        self.norm_positions = known_norms(ops, seg)

    def forward(self, x: torch.Tensor, rest: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        skips = rest[: len(self.segment.skips_in)]
        stats = rest[len(self.segment.skips_in) :]
        norms = {p: (stats[2 * k], stats[2 * k + 1]) for k, p in enumerate(self.norm_positions)}
        out, saved = run_ops(self.ops, self.segment, x, skips, norms)
        return (out, *saved)


def export_ops(generator: Generator, dtype: torch.dtype) -> tuple[Op, ...]:
    """The generator's ops on a CPU copy in ``dtype`` (norms still compute in fp32)."""
    net = copy.deepcopy(generator.net).eval().requires_grad_(False).to(dtype=dtype)
    return Program.of(net, generator.in_channels).ops


def example_inputs(ops: tuple[Op, ...], seg: Segment, program: Program, dtype: torch.dtype,
                   batch: int = 1, size: int = 64) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes for tracing or checking a segment on a tile of about ``size`` px (a
    multiple of the granularity, and not square)."""
    unit = program.granularity
    height = max(unit, size // unit * unit)

    def activation(position: int) -> torch.Tensor:
        scale = program.scale_before[position]
        shape = (batch, program.channels_before[position], height // scale, (height + unit) // scale)
        return torch.randn(shape).to(dtype)

    tensors = [activation(seg.start)] + [activation(s) for s in seg.skips_in]
    for p in known_norms(ops, seg):
        channels = program.channels_before[p]
        tensors += [torch.randn(batch, channels, 1, 1) * 0.5, torch.rand(batch, channels, 1, 1) + 0.5]
    return tuple(tensors)
