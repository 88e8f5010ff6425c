"""Graph packs: one file holding every segment graph (ONNX or TensorRT plans) and a manifest.

A pack is an uncompressed zip: ``manifest.json`` plus one member per segment. The
manifest carries what the runner needs without the weights: the architecture
(for the tile geometry), the model's label, directions and work size, and for
each segment its position in the program and its input/output names.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx.errors import CheckpointError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.runtime.schedule import Segment

FORMAT = "cyclegan-fx-pack"
VERSION = 2  # 2: statistics inputs have a batch dimension
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PackedSegment:
    start: int
    end: int
    local_norms: bool
    skips_in: tuple[int, ...]
    saves_out: tuple[int, ...]
    member: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def segment(self) -> Segment:
        return Segment(self.start, self.end, self.skips_in, self.saves_out, self.local_norms)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackedSegment:
        tuples = {k: tuple(data[k]) for k in ("skips_in", "saves_out", "inputs", "outputs")}
        return cls(**{**data, **tuples})


@dataclass(frozen=True)
class Pack:
    path: Path
    manifest: dict[str, Any]

    @property
    def segments(self) -> list[PackedSegment]:
        return [PackedSegment.from_json(s) for s in self.manifest["segments"]]

    def read(self, member: str) -> bytes:
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(member)


def write_pack(path: Path, manifest: dict[str, Any], members: dict[str, Path], overwrite: bool = True) -> Pack:
    """Write the manifest and the member files into ``path`` atomically."""
    manifest = {"format": FORMAT, "version": VERSION, **manifest}
    with atomic_output(path, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
            for name, source in members.items():
                archive.write(source, name)
    return Pack(path, manifest)


def read_pack(path: Path) -> Pack:
    """Open a pack; a damaged or foreign file is one clear error."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not a cyclegan-fx graph pack (or it is damaged).") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CheckpointError(f"{path} is a graph pack of another format or version; export it again with "
                              f"'cyclegan-fx export'.")
    return Pack(path, manifest)


def segment_entry(seg: Segment, member: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> dict[str, Any]:
    return asdict(PackedSegment(seg.start, seg.end, seg.local_norms, seg.skips_in, seg.saves_out, member, inputs, outputs))
