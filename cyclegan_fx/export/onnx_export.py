"""Export segments of a generator to ONNX with the dynamo exporter (opset 18)."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from cyclegan_fx.errors import CycleganFxError
from cyclegan_fx.export.graphs import GraphSignature, SegmentModule, example_inputs, signature
from cyclegan_fx.extras import require_extra
from cyclegan_fx.networks import Op, Program
from cyclegan_fx.runtime.schedule import Segment

if TYPE_CHECKING:
    import onnx

OPSET = 18
log = logging.getLogger(__name__)


class ExportError(CycleganFxError):
    """An export failed or its result did not match PyTorch."""


class _Segments(nn.Module):
    """Every segment side by side, each on its own inputs, so one export traces them all."""

    def __init__(self, ops: tuple[Op, ...], segments: list[Segment]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(SegmentModule(ops, seg) for seg in segments)

    def forward(self, groups: list[list[torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        return tuple(out for part, group in zip(self.parts, groups) for out in part(group[0], group[1:]))


def export_segments(ops: tuple[Op, ...], program: Program, segments: list[Segment],
                    dtype: torch.dtype) -> list[onnx.ModelProto]:
    """One ONNX model per segment of ``ops`` (from ``export_ops``); batch, height and width are dynamic.

    The exporter costs about a second per call whatever the graph (it rebuilds its operator registry),
    so all segments are traced in one call and then cut apart: a pack of 18 segments takes half the time.
    """
    onnx = require_extra("onnx")
    require_extra("onnxscript")  # torch's dynamo exporter writes the graph with it
    names = [signature(ops, seg, program) for seg in segments]
    batch, rows, cols = torch.export.Dim("batch"), torch.export.Dim("rows"), torch.export.Dim("cols")
    # Statistics have one row per tile of the batch (tiles of a batch may come from different images).
    shapes = [_input_shapes(program, seg, sig, batch, rows, cols) for seg, sig in zip(segments, names)]
    inputs = [list(example_inputs(ops, seg, program, dtype)) for seg in segments]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
        try:
            exported = torch.onnx.export(
                _Segments(ops, segments).eval(),
                (inputs,),
                input_names=[_prefixed(k, n) for k, sig in enumerate(names) for n in sig.inputs],
                output_names=[_prefixed(k, n) for k, sig in enumerate(names) for n in sig.outputs],
                dynamic_shapes={"groups": shapes},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many internal types
            raise ExportError(f"ONNX export of the generator's segments failed: {exc}") from exc
    extractor = onnx.utils.Extractor(exported.model_proto)
    return [_cut(extractor, k, sig) for k, sig in enumerate(names)]


def _prefixed(k: int, name: str) -> str:
    return f"segment{k}.{name}"


def _cut(extractor: onnx.utils.Extractor, k: int, sig: GraphSignature) -> onnx.ModelProto:
    """Segment ``k``'s own graph out of the combined one, with its plain input and output names."""
    part = extractor.extract_model([_prefixed(k, n) for n in sig.inputs], [_prefixed(k, n) for n in sig.outputs])
    plain = {_prefixed(k, n): n for n in (*sig.inputs, *sig.outputs)}
    for node in part.graph.node:
        node.input[:] = [plain.get(n, n) for n in node.input]
        node.output[:] = [plain.get(n, n) for n in node.output]
    for value in (*part.graph.input, *part.graph.output, *part.graph.value_info):
        value.name = plain.get(value.name, value.name)
    return part


def _input_shapes(program: Program, seg: Segment, sig: GraphSignature, batch, rows, cols) -> list[dict[int, object]]:
    """Dynamic dimensions of each input; activations' height and width are in units of the program's
    granularity: a U-Net segment concatenates skips of several resolutions, which only fit for sizes that are
    such multiples."""
    positions = dict(zip(sig.inputs, (seg.start, *seg.skips_in)))
    shapes = []
    for name in sig.inputs:
        if name in sig.dynamic:
            factor = program.granularity // program.scale_before[positions[name]]
            shapes.append({0: batch, 2: _times(rows, factor), 3: _times(cols, factor)})
        else:
            shapes.append({0: batch})
    return shapes


def _times(dim, factor: int):
    return dim if factor == 1 else factor * dim
