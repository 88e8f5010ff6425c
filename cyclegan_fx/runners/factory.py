"""Build a Runner for a model, a direction, a device, a precision and a backend."""

from __future__ import annotations

import logging

import torch

from cyclegan_fx.errors import DeviceError
from cyclegan_fx.models import Model
from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime.devices import precision_name, resolve_device, resolve_dtype
from cyclegan_fx.runtime.runner import Runner

log = logging.getLogger("cyclegan_fx")
ENGINE_TILE, ENGINE_BATCH = 1024, 4


def open_runner(
    model: Model, direction: str = "a2b", device: str = "auto", precision: str = "auto", backend: str = "auto"
) -> Runner:
    """Load the generator of ``direction`` onto a backend; the Runner can be shared by threads."""
    generator = model.generator(direction)
    if model.is_engine:
        return Runner(generator, _engine_file_backend(model, backend, precision), model.info.work_size)
    torch_device = resolve_device(device)
    name = choose_backend(backend, torch_device, model, direction, generator)
    if name == "onnxruntime":
        chosen = _onnxruntime(model, direction, generator, torch_device, precision)
    elif name == "tensorrt":
        chosen = _tensorrt(model, direction, generator, torch_device, precision)
    else:
        from cyclegan_fx.runtime.torch_backend import TorchBackend

        chosen = TorchBackend(generator, torch_device, resolve_dtype(precision, torch_device))
    log.debug("Model %s (%s) on %s, %s, %s.", model.name, direction, chosen.name, torch_device,
              precision_name(chosen.dtype))
    return Runner(generator, chosen, model.info.work_size)


def choose_backend(backend: str, device: torch.device, model: Model, direction: str, generator: Generator) -> str:
    """``auto``, a fixed rule with no measurement: TensorRT where an engine for this GPU is cached, else
    PyTorch (on a CPU its tiled kernels are the fast path; ONNX Runtime is there when asked for)."""
    if backend != "auto":
        return backend
    if device.type == "cuda" and _cached_engine_exists(model, direction, generator):
        return "tensorrt"
    return "torch"


def _onnxruntime(model, direction, generator, device: torch.device, precision: str):
    from cyclegan_fx.export.cache import onnx_pack
    from cyclegan_fx.models.store import cache_home
    from cyclegan_fx.runtime.onnx_backend import OnnxRuntimeBackend, execution_providers

    graph_precision = {"auto": "fp16" if device.type == "cuda" else "fp32", "fp32": "fp32", "fp16": "fp16"}
    if precision not in graph_precision:
        raise DeviceError(f"The ONNX Runtime backend runs fp32 or fp16 graphs, not {precision}.")
    providers = execution_providers(device, cache_home() / "onnxruntime-tensorrt")
    return OnnxRuntimeBackend(onnx_pack(model, direction, generator, graph_precision[precision]), providers)


def _tensorrt(model, direction, generator, device: torch.device, precision: str):
    from cyclegan_fx.export.cache import engine_pack
    from cyclegan_fx.runtime.tensorrt_backend import TensorRTBackend

    if precision not in ("auto", "fp16"):
        raise DeviceError(f"TensorRT engines are built in fp16, not {precision}.")
    if device.type != "cuda":
        raise DeviceError("The TensorRT backend needs a CUDA GPU; use --backend torch or onnxruntime on the CPU.")
    return TensorRTBackend(engine_pack(model, direction, generator, ENGINE_TILE, ENGINE_BATCH), device)


def _engine_file_backend(model: Model, backend: str, precision: str):
    """The backend of a ``.engine`` file, after checking it was built for this GPU and TensorRT."""
    from cyclegan_fx.export.engine import current_target, mismatch, read_sidecar
    from cyclegan_fx.runtime.pack import read_pack
    from cyclegan_fx.runtime.tensorrt_backend import TensorRTBackend

    if backend not in ("auto", "tensorrt") or precision not in ("auto", "fp16"):
        raise DeviceError(f"{model.path} is a TensorRT engine: it runs with --backend tensorrt in fp16 only.")
    problem = mismatch(read_sidecar(model.path), current_target())
    if problem:
        raise DeviceError(problem + ".")
    return TensorRTBackend(read_pack(model.path), torch.device("cuda"))


def _cached_engine_exists(model: Model, direction: str, generator: Generator) -> bool:
    from cyclegan_fx.export.cache import engine_cache_path
    from cyclegan_fx.export.engine import current_target, unavailable_reason

    if unavailable_reason() is not None:
        return False
    return engine_cache_path(model, direction, generator, current_target(), ENGINE_TILE, ENGINE_BATCH).is_file()
