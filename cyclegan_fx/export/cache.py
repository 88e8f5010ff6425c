"""Exported artefacts cached beside the model, keyed by everything that made them."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, astuple
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclegan_fx.export.build import build_onnx_pack, made_by
from cyclegan_fx.export.graphs import required_segments
from cyclegan_fx.export.onnx_export import OPSET, ExportError
from cyclegan_fx.export.verify import photo_like, psnr
from cyclegan_fx.extras import require_extra
from cyclegan_fx.models.bundle import Model, file_sha256
from cyclegan_fx.models.store import cache_home
from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.runtime.onnx_backend import OnnxRuntimeBackend
from cyclegan_fx.runtime.pack import VERSION as PACK_VERSION
from cyclegan_fx.runtime.pack import Pack, read_pack
from cyclegan_fx.runtime.runner import Runner

log = logging.getLogger("cyclegan_fx")
MIN_PACK_PSNR = {"fp32": 50.0, "fp16": 35.0}


def model_meta(model: Model, direction: str, generator: Generator) -> dict[str, Any]:
    """What a pack records about its model: enough to run it and to show it in menus."""
    info = model.info
    return {
        "name": info.name,
        "label": info.label,
        "direction": direction,
        "directions": list(info.directions),
        "architecture": generator.spec(),
        "training_size": info.training_size,
        "work_size": info.work_size,
        "receptive_field_radius": generator.radius,
        "granularity": generator.granularity,
        "weights_sha256": weights_digest(model, direction),
    }


def weights_digest(model: Model, direction: str) -> str:
    entry = model.direction(direction)
    return entry.sha256 or file_sha256(model.path if model.path.is_file() else model.path / entry.weights)


def artifact_dir(model: Model, direction: str) -> Path:
    """``cache/`` inside a bundle; for a bare checkpoint, the user cache dir."""
    if model.path.is_dir():
        return model.path / "cache"
    return cache_home() / "models" / weights_digest(model, direction)[:16]


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def made_from(model: Model, direction: str, generator: Generator) -> dict[str, Any]:
    """The weights, the segment graphs the runner needs from them, and the tools' versions."""
    segments = [astuple(s) for s in required_segments(generator.program)]
    return {"weights": weights_digest(model, direction), "segments": cache_key({"all": segments}),
            "pack_version": PACK_VERSION, **made_by()}


def onnx_pack(model: Model, direction: str, generator: Generator, precision: str) -> Pack:
    """The segment pack for ONNX Runtime, exported and checked once, then reused."""
    parts = {**made_from(model, direction, generator), "precision": precision, "opset": OPSET}
    path = artifact_dir(model, direction) / f"{direction}-onnx-{precision}-{cache_key(parts)}.pack"
    if path.is_file():
        return read_pack(path)
    require_extra("onnxruntime")  # check_pack runs the pack in it: say so before the export's work, not after
    log.info("Exporting %s (%s) to ONNX segment graphs, once; later runs reuse %s.", model.name, direction, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pack = build_onnx_pack(generator, model_meta(model, direction, generator), precision, path)
    try:
        log.info("Checked: exact tiles in ONNX Runtime vs one PyTorch pass, PSNR %.1f dB.", check_pack(pack, generator))
    except ExportError:
        path.unlink(missing_ok=True)
        raise
    return pack


def check_pack(pack: Pack, generator: Generator) -> float:
    """Tiled exact run of the pack in ONNX Runtime against one whole-image PyTorch pass; the PSNR."""
    precision = pack.manifest["precision"]
    size = max(generator.min_size, 2 * generator.granularity, 96)
    image = photo_like(1, size, size + generator.granularity)[0].permute(1, 2, 0).add(1).mul(0.5).numpy()
    tiled = Runner(generator, OnnxRuntimeBackend(pack)).run(image, RunOptions(tile=generator.granularity * 8))
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None] * 2 - 1))
    with torch.inference_mode():
        whole = (generator.net.eval()(x)[0].permute(1, 2, 0).numpy() + 1) / 2
    value = psnr(tiled, whole, peak=1.0)
    if value < MIN_PACK_PSNR[precision]:
        raise ExportError(f"The exported segment graphs do not reproduce PyTorch: PSNR {value:.1f} dB.")
    return value


def engine_pack(model: Model, direction: str, generator: Generator, tile: int, batch: int) -> Pack:
    """The TensorRT engine pack for this GPU, built once from the FP16 ONNX pack."""
    from cyclegan_fx.export.engine import build_engine_pack, current_target

    target = current_target()
    path = engine_cache_path(model, direction, generator, target, tile, batch)
    if path.is_file():
        return read_pack(path)
    onnx = onnx_pack(model, direction, generator, "fp16")
    log.info("Building TensorRT engines for %s (%s) on %s, once; later runs reuse %s.",
             model.name, direction, target.gpu, path)
    return build_engine_pack(onnx, generator.program, path, tile, batch, target, timing_cache_path())


def engine_cache_path(model: Model, direction: str, generator: Generator, target, tile: int, batch: int) -> Path:
    parts = {**made_from(model, direction, generator), "target": asdict(target), "tile": tile, "batch": batch}
    return artifact_dir(model, direction) / f"{direction}-tensorrt-fp16-{cache_key(parts)}.engine"


def timing_cache_path() -> Path:
    return cache_home() / "tensorrt-timing.cache"
