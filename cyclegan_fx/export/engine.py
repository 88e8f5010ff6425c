"""FP16 TensorRT engines built from a pack of FP16 segment graphs, with a sidecar JSON.

The FP16 ONNX graphs already carry their types (FP16 activations and weights,
FP32 normalization through Cast nodes), so the network is built strongly typed.
TensorRT 11 always is (it accepts and ignores the flag); TensorRT 10 takes the flag,
which keeps the graph's types where the FP16 builder flag would let it choose per
layer, InstanceNorm included. Engines are tied to
a TensorRT version, a GPU architecture and a platform; the sidecar records them
and ``mismatch`` says, in one sentence, why an engine cannot run here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx.errors import CheckpointError, DeviceError, MissingExtraError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.networks import Program
from cyclegan_fx.runtime.pack import Pack, segment_entry, write_pack
from cyclegan_fx.runtime.plan import round_up
from cyclegan_fx.runtime.schedule import Segment

log = logging.getLogger("cyclegan_fx")
THUMBNAIL_MAX = 512  # the runner's default thumbnail long side; its exact pass runs as one tile
WORKSPACE = 4 << 30


@dataclass(frozen=True)
class EngineTarget:
    """Where an engine runs: it only runs where all four match."""

    tensorrt: str
    gpu: str
    compute_capability: str
    platform: str


def unavailable_reason() -> str | None:
    """Why no engine can be built or run here, or None."""
    try:
        require_extra("tensorrt")
    except MissingExtraError as exc:
        return str(exc).removesuffix(".")
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is usable here"
    return None


def current_target() -> EngineTarget:
    """This machine's TensorRT and GPU; raises DeviceError where there is none."""
    reason = unavailable_reason()
    if reason:
        raise DeviceError(f"Cannot build or run TensorRT engines: {reason}.")
    tensorrt = require_extra("tensorrt")
    import torch

    major, minor = torch.cuda.get_device_capability()
    return EngineTarget(tensorrt.__version__, torch.cuda.get_device_name(), f"{major}.{minor}", platform.machine())


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: Path, data: dict[str, Any]) -> None:
    from cyclegan_fx.io.atomic import atomic_output

    with atomic_output(sidecar_path(engine), overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def read_sidecar(engine: Path) -> dict[str, Any]:
    path = sidecar_path(engine)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"{engine} has no sidecar {path.name}; rebuild it with 'cyclegan-fx export'.") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"The sidecar {path} is damaged; rebuild the engine with 'cyclegan-fx export'.") from exc


def mismatch(sidecar: dict[str, Any], here: EngineTarget) -> str | None:
    """One sentence saying why an engine built for ``sidecar`` cannot run on ``here``, or None."""
    built = EngineTarget(**sidecar["target"])
    if (built.tensorrt.split(".")[:2], built.compute_capability, built.platform) == (
        here.tensorrt.split(".")[:2], here.compute_capability, here.platform
    ):
        return None
    return (
        f"The engine was built with TensorRT {built.tensorrt} for {built.gpu} (compute {built.compute_capability}, "
        f"{built.platform}), but this machine has TensorRT {here.tensorrt} and {here.gpu} "
        f"(compute {here.compute_capability}, {here.platform}); rebuild it here with "
        f"'cyclegan-fx export {sidecar['model']['name']} --direction {sidecar['model']['direction']} "
        f"--format engine -o FILE.engine'"
    )


def profile_shapes(program: Program, seg: Segment, inputs: tuple[str, ...], tile: int, batch: int,
                   margin: int) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shapes of every input, sized to the runner's tiles of this segment; the statistics
    inputs (``mean<p>``, ``var<p>``) have one row per tile."""
    side = max(tile + 2 * margin, round_up(THUMBNAIL_MAX, program.granularity))
    shapes = {}
    activations = [name for name in inputs if not name.startswith(("mean", "var"))]
    for name, position in zip(activations, [seg.start, *seg.skips_in]):
        scale, channels = program.scale_before[position], program.channels_before[position]
        smallest = max(1, program.min_size // scale)
        opt = (batch, channels, (tile + 2 * margin) // scale, (tile + 2 * margin) // scale)
        shapes[name] = ((1, channels, smallest, smallest), opt, (batch, channels, side // scale, side // scale))
    for name in inputs[len(activations):]:
        channels = program.channels_before[int(name.removeprefix("mean").removeprefix("var"))]
        shapes[name] = ((1, channels, 1, 1), (batch, channels, 1, 1), (batch, channels, 1, 1))
    return shapes


def build_engine_pack(onnx: Pack, program: Program, path: Path, tile: int, batch: int, target: EngineTarget,
                      timing_cache: Path) -> Pack:
    """Build one engine per segment graph of an FP16 ONNX pack; write the engine pack and its sidecar."""
    from cyclegan_fx.runtime.executor import sweep_margin

    trt = require_extra("tensorrt")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    cache_bytes = timing_cache.read_bytes() if timing_cache.is_file() else b""
    entries, members, profiles = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, entry in enumerate(onnx.segments):
            seg = entry.segment
            shapes = profile_shapes(program, seg, entry.inputs, tile, batch, sweep_margin(program, seg))
            plan, cache_bytes = _build_one(trt, builder, logger, onnx.read(entry.member), shapes, cache_bytes)
            member = f"segment-{k:02d}.plan"
            (Path(tmp) / member).write_bytes(plan)
            members[member] = Path(tmp) / member
            entries.append(segment_entry(seg, member, entry.inputs, entry.outputs))
            profiles[member] = {name: [list(s) for s in shape] for name, shape in shapes.items()}
            log.info("  built %s (%d/%d)", member, k + 1, len(onnx.segments))
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(cache_bytes)
        onnx_digest = hashlib.sha256(onnx.path.read_bytes()).hexdigest()
        manifest = {"kind": "tensorrt", "precision": "fp16", "tile": tile, "batch": batch,
                    "target": asdict(target), "model": onnx.manifest["model"], "onnx_sha256": onnx_digest,
                    "segments": entries}
        pack = write_pack(path, manifest, members)
    write_sidecar(path, {**{k: v for k, v in manifest.items() if k != "segments"}, "profiles": profiles})
    return pack


def _build_one(trt, builder, logger, onnx_bytes: bytes, shapes, cache_bytes: bytes) -> tuple[bytes, bytes]:
    """One serialized engine, and the timing cache grown by its build."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DeviceError(f"TensorRT could not parse an exported graph: {errors}.")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE)
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise DeviceError("TensorRT failed to build an engine; its log above says why.")
    return bytes(plan), bytes(cache.serialize())
