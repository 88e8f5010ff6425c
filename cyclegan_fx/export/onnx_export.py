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
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    # Statistics have one row per tile of the batch (tiles of a batch may come from different images).
    rest = [dims if name in names.dynamic else {0: dims[0]} for name in names.inputs[1:]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
        try:
            program = torch.onnx.export(
                SegmentModule(ops, seg).eval(),
                (inputs[0], list(inputs[1:])),
                input_names=list(names.inputs),
                output_names=list(names.outputs),
                dynamic_shapes={"x": dims, "rest": rest},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many internal types
            raise ExportError(f"ONNX export of segment {seg.start}-{seg.end} failed: {exc}") from exc
    program.save(str(path))
