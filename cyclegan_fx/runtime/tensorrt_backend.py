"""TensorRT backend: one engine per segment, run on torch's current CUDA stream."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import torch

from cyclegan_fx.errors import DeviceError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.runtime.backend import NormStats, SegmentResult, Tuning
from cyclegan_fx.runtime.interpreter import named_statistic
from cyclegan_fx.runtime.pack import Pack
from cyclegan_fx.runtime.schedule import Segment


class TensorRTBackend:
    """Each segment's execution context is guarded by a lock; nothing of a call is kept after it."""

    def __init__(self, pack: Pack, device: torch.device) -> None:
        trt = require_extra("tensorrt")
        self.name = "tensorrt"
        self.device = device
        self.dtype = torch.float16
        self.max_tile = int(pack.manifest["tile"])
        self.max_batch = int(pack.manifest["batch"])
        self.tuning = Tuning()
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engines = {}
        for entry in pack.segments:
            engine = self._runtime.deserialize_cuda_engine(pack.read(entry.member))
            if engine is None:
                raise DeviceError(
                    f"TensorRT cannot load {pack.path}: it was built by another TensorRT version or for another GPU; "
                    f"rebuild it with 'cyclegan-fx export --format engine'."
                )
            self._engines[entry.segment] = (engine, engine.create_execution_context(), threading.Lock(), entry)
        self.segments = frozenset(self._engines)

    def run(
        self, segment: Segment, x: torch.Tensor, skips: Sequence[torch.Tensor], stats: Mapping[int, NormStats]
    ) -> SegmentResult:
        engine, context, lock, entry = self._engines[segment]
        inputs = {name: t.to(self.device, self.dtype).contiguous() for name, t in zip(entry.inputs, [x, *skips])}
        for name in entry.inputs[len(inputs) :]:
            inputs[name] = named_statistic(name, stats).to(self.device)
        with lock:
            for name, tensor in inputs.items():
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for name in entry.outputs:
                shape = tuple(context.get_tensor_shape(name))
                outputs[name] = torch.empty(shape, dtype=_torch_dtype(engine.get_tensor_dtype(name)), device=self.device)
                context.set_tensor_address(name, outputs[name].data_ptr())
            if not context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
                raise DeviceError("TensorRT failed to run a segment engine.")
        first, *rest = (outputs[name] for name in entry.outputs)
        return SegmentResult(first, rest)


def _torch_dtype(trt_dtype) -> torch.dtype:
    trt = require_extra("tensorrt")
    return {trt.DataType.HALF: torch.float16, trt.DataType.FLOAT: torch.float32}[trt_dtype]
