"""Export segments of a generator to ONNX with the dynamo exporter (opset 18)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from cyclegan_fx.errors import CycleganFxError
from cyclegan_fx.export.graphs import SegmentModule, example_inputs, signature
from cyclegan_fx.extras import require_extra
from cyclegan_fx.networks import Op, Program
from cyclegan_fx.runtime.schedule import Segment

OPSET = 18
log = logging.getLogger(__name__)


class ExportError(CycleganFxError):
    """An export failed or its result did not match PyTorch."""


def export_segment(ops: tuple[Op, ...], program: Program, seg: Segment, path: Path, dtype: torch.dtype) -> None:
    """Write one segment graph of ``ops`` (from ``export_ops``) to ``path``; batch, height and width are dynamic."""
    require_extra("onnx")
    require_extra("onnxscript")  # torch's dynamo exporter writes the graph with it
    names = signature(ops, seg, program)
    inputs = example_inputs(ops, seg, program, dtype)
    batch = torch.export.Dim("batch")
    spatial = _spatial_dims(program, seg, names)
    # Statistics have one row per tile of the batch (tiles of a batch may come from different images).
    shapes = [{0: batch, **spatial[name]} if name in spatial else {0: batch} for name in names.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
        try:
            program = torch.onnx.export(
                SegmentModule(ops, seg).eval(),
                (inputs[0], list(inputs[1:])),
                input_names=list(names.inputs),
                output_names=list(names.outputs),
                dynamic_shapes={"x": shapes[0], "rest": shapes[1:]},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many internal types
            raise ExportError(f"ONNX export of segment {seg.start}-{seg.end} failed: {exc}") from exc
    program.save(str(path))


def _spatial_dims(program: Program, seg: Segment, names) -> dict[str, dict[int, object]]:
    """Height and width of each activation input in units of the program's granularity: a U-Net segment
    concatenates skips of several resolutions, which only fit for sizes that are such multiples."""
    rows, cols = torch.export.Dim("rows"), torch.export.Dim("cols")
    positions = (seg.start, *seg.skips_in)
    dims = {}
    for name, position in zip(names.inputs, positions):
        if name in names.dynamic:
            factor = program.granularity // program.scale_before[position]
            dims[name] = {2: _times(rows, factor), 3: _times(cols, factor)}
    return dims


def _times(dim, factor: int):
    return dim if factor == 1 else factor * dim
