"""``cyclegan-fx export``: a verified ONNX file, or an FP16 TensorRT engine with its sidecar."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cyclegan_fx.runtime.config import DIRECTIONS

log = logging.getLogger("cyclegan_fx")


@click.command()
@click.argument("model")
@click.option("-d", "--direction", type=click.Choice(DIRECTIONS), default="a2b", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["onnx", "engine"]), required=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default=None,
              help="Graph precision (default: fp32 for onnx; engines are always fp16 with fp32 norms).")
@click.option("--tile", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Engine: largest tile core the runner will send.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Engine: tiles per call.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def export(model, direction, fmt, precision, tile, batch, output, overwrite) -> None:
    """Export MODEL (store name, bundle or checkpoint) to ONNX or a TensorRT engine."""
    from cyclegan_fx.errors import ConfigError
    from cyclegan_fx.models import resolve_model

    resolved = resolve_model(model)
    generator = resolved.generator(direction)
    if fmt == "onnx":
        from cyclegan_fx.export.build import export_onnx

        export_onnx(generator, output, precision or "fp32", overwrite)
        click.echo(f"Wrote {output} ({precision or 'fp32'}, verified against PyTorch).")
        return
    if precision == "fp32":
        raise ConfigError("Engines are built in fp16 (with fp32 normalization); drop --precision fp32.")
    _export_engine(resolved, direction, generator, tile, batch, output, overwrite)


def _export_engine(model, direction, generator, tile, batch, output: Path, overwrite: bool) -> None:
    """FP16 ONNX segment graphs first (checked here), then the engines where TensorRT and a GPU exist."""
    from cyclegan_fx.errors import DeviceError, OutputError
    from cyclegan_fx.export.cache import onnx_pack, timing_cache_path
    from cyclegan_fx.export.engine import build_engine_pack, current_target, unavailable_reason

    if output.exists() and not overwrite:
        raise OutputError(f"{output} exists already; pass --overwrite to replace it.")
    pack = onnx_pack(model, direction, generator, "fp16")
    reason = unavailable_reason()
    if reason:
        raise DeviceError(f"Cannot build the engine: {reason}; the FP16 ONNX graphs were exported and checked "
                          f"({pack.path}).")
    built = build_engine_pack(pack, generator.program, output, tile, batch, current_target(), timing_cache_path())
    click.echo(f"Wrote {output} and {output.name}.json for {built.manifest['target']['gpu']}.")
