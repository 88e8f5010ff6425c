"""Export a generator: its verified ONNX file, and the segment packs the runner's backends load."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import torch

from cyclegan_fx import __version__
from cyclegan_fx.export.graphs import export_ops, required_segments, signature
from cyclegan_fx.export.onnx_export import OPSET, ExportError, export_segments
from cyclegan_fx.export.verify import MIN_PSNR, check_generator_graph, failed
from cyclegan_fx.extras import require_extra
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.networks import Generator
from cyclegan_fx.runtime.pack import Pack, segment_entry, write_pack
from cyclegan_fx.runtime.schedule import segment

log = logging.getLogger("cyclegan_fx")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def export_onnx(generator: Generator, path: Path, precision: str = "fp32", overwrite: bool = False) -> None:
    """The whole generator as one ONNX graph (input -> output), kept only if it matches PyTorch."""
    onnx = require_extra("onnx")
    require_extra("onnxruntime")  # the check needs it: say so before the export's work, not after
    program = generator.program
    whole = segment(program, 0, len(program), local_norms=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        [graph] = export_segments(export_ops(generator, DTYPES[precision]), program, [whole], DTYPES[precision])
        onnx.save(graph, tmp)
        log.info("Checking %s against PyTorch fp32 with ONNX Runtime:", path.name)
        bad = failed(check_generator_graph(str(tmp), generator, precision), precision)
        if bad:
            worst = min(c.psnr for c in bad)
            raise ExportError(
                f"The exported graph does not match PyTorch: PSNR {worst:.1f} dB, below {MIN_PSNR[precision]:.0f} dB; "
                f"nothing was written."
            )


def build_onnx_pack(generator: Generator, meta: dict[str, Any], precision: str, path: Path) -> Pack:
    """Export every segment the runner can ask for into one pack file."""
    program, dtype = generator.program, DTYPES[precision]
    ops = export_ops(generator, dtype)
    segments = required_segments(program)
    entries, members = [], {}
    graphs = export_segments(ops, program, segments, dtype)
    onnx = require_extra("onnx")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (seg, graph) in enumerate(zip(segments, graphs)):
            member = f"segment-{k:02d}.onnx"
            onnx.save(graph, Path(tmp) / member)
            names = signature(ops, seg, program)
            entries.append(segment_entry(seg, member, names.inputs, names.outputs))
            members[member] = Path(tmp) / member
        manifest = {"kind": "onnx", "precision": precision, "opset": OPSET, "model": meta, "segments": entries,
                    "made_by": made_by()}
        return write_pack(path, manifest, members)


def made_by() -> dict[str, str]:
    onnx = require_extra("onnx")
    return {"cyclegan_fx": __version__, "torch": torch.__version__, "onnx": onnx.__version__}
