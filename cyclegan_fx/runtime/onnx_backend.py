"""ONNX Runtime backend: one session per segment graph of a pack (CPU, or CUDA when installed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclegan_fx.extras import require_extra
from cyclegan_fx.runtime.backend import NormStats, SegmentResult
from cyclegan_fx.runtime.cpu_layers import CPU_TUNING
from cyclegan_fx.runtime.interpreter import named_statistic
from cyclegan_fx.runtime.pack import Pack
from cyclegan_fx.runtime.schedule import Segment

log = logging.getLogger("cyclegan_fx")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def execution_providers(device: torch.device, engine_cache: Path) -> list[Any]:
    """For a GPU, TensorRT then CUDA where this onnxruntime has them (TensorRT's engines cached in
    ``engine_cache``); the CPU always, last."""
    ort = require_extra("onnxruntime")
    if device.type != "cuda":
        return ["CPUExecutionProvider"]
    available = set(ort.get_available_providers())
    gpu: list[Any] = []
    if "TensorrtExecutionProvider" in available:
        options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engine_cache)}
        gpu.append(("TensorrtExecutionProvider", options))
    if "CUDAExecutionProvider" in available:
        gpu.append("CUDAExecutionProvider")
    if not gpu:
        log.warning("This onnxruntime has no GPU execution provider, so it runs on the CPU; "
                    "install onnxruntime-gpu to run it on the GPU.")
    return [*gpu, "CPUExecutionProvider"]


class OnnxRuntimeBackend:
    """Sessions are created once; ``run`` keeps nothing between calls and may run in many threads."""

    def __init__(self, pack: Pack, providers: Sequence[Any] = ("CPUExecutionProvider",)) -> None:
        ort = require_extra("onnxruntime")
        self.name = "onnxruntime"
        self.device = torch.device("cpu")  # inputs and outputs travel through host memory
        self.dtype = _DTYPES[pack.manifest["precision"]]
        self.max_tile = self.max_batch = None
        self.tuning = CPU_TUNING  # its tensors are host tensors, whichever provider runs the graphs
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {
            entry.segment: (ort.InferenceSession(pack.read(entry.member), options, providers=list(providers)), entry)
            for entry in pack.segments
        }
        self.segments = frozenset(self.sessions)

    def run(
        self, segment: Segment, x: torch.Tensor, skips: Sequence[torch.Tensor], stats: Mapping[int, NormStats]
    ) -> SegmentResult:
        session, entry = self.sessions[segment]
        values = {name: _array(t) for name, t in zip(entry.inputs, [x, *skips])}
        for name in entry.inputs[1 + len(skips) :]:
            values[name] = named_statistic(name, stats).numpy()
        outputs = session.run(list(entry.outputs), values)
        return SegmentResult(torch.from_numpy(outputs[0]), [torch.from_numpy(o) for o in outputs[1:]])


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().contiguous().numpy()
