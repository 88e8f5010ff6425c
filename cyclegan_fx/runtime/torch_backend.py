"""PyTorch backend: interprets a generator's program on CPU or CUDA in fp32, bf16 or fp16."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime.backend import NormStats, SegmentResult, Tuning
from cyclegan_fx.runtime.cpu_layers import CPU_TUNING, for_cpu
from cyclegan_fx.runtime.host_memory import reuse_freed_buffers
from cyclegan_fx.runtime.interpreter import norm_inputs, run_ops
from cyclegan_fx.runtime.schedule import Segment


class TorchBackend:
    """Stateless after construction: any number of threads may call ``run`` at once.

    It takes the generator over: its network is moved to ``device`` and ``dtype`` in place (no copy, no
    second trace), so give each backend a generator of its own.
    """

    def __init__(self, generator: Generator, device: torch.device, dtype: torch.dtype) -> None:
        self.name = f"torch-{device.type}"
        self.device = device
        self.dtype = dtype
        self.max_tile = self.max_batch = self.segments = None
        self.tuning = CPU_TUNING if device.type == "cpu" else Tuning()
        if device.type == "cpu":
            reuse_freed_buffers()
        if device.type == "cuda":
            # Tiles share one shape per grid, so cuDNN's measured choice of algorithm is reused for every tile.
            torch.backends.cudnn.benchmark = True
        self.net = generator.net.eval().requires_grad_(False)
        self.net.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        # The traced ops hold the modules just moved, so the generator's own program runs here.
        ops = generator.program.ops
        self.ops = for_cpu(ops) if device.type == "cpu" else ops

    @torch.inference_mode()
    def run(
        self, segment: Segment, x: torch.Tensor, skips: Sequence[torch.Tensor], stats: Mapping[int, NormStats]
    ) -> SegmentResult:
        x = x.contiguous(memory_format=torch.channels_last)
        out, saved = run_ops(self.ops, segment, x, skips, norm_inputs(self.ops, segment, stats, self.device))
        return SegmentResult(out, saved)
