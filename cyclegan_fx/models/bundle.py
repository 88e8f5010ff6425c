"""Model bundles: a folder with model.json and one safetensors file per direction."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from cyclegan_fx.errors import CheckpointError, DirectionError, ModelNotFoundError
from cyclegan_fx.io.atomic import atomic_output, temporary_sibling
from cyclegan_fx.networks import Generator, generator_from_spec, generator_from_state_dict

Direction = Literal["a2b", "b2a"]
DIRECTIONS: tuple[Direction, ...] = ("a2b", "b2a")
MANIFEST = "model.json"
FORMAT = "cyclegan-fx-model"
FORMAT_VERSION = 1
DEFAULT_WORK_SIZE = 1024
ENGINE_SUFFIX = ".engine"


@dataclass(frozen=True)
class DirectionInfo:
    weights: str  # file name inside the bundle, or an absolute path for a bare checkpoint
    architecture: dict[str, Any]  # {"name": ..., "params": {...}}
    sha256: str = ""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    label: str  # menu label of a2b, e.g. "Summer to Winter"
    directions: dict[str, DirectionInfo]
    training_size: int | None = None
    work_size: int | None = DEFAULT_WORK_SIZE  # recommended long side; None: full resolution
    provenance: dict[str, Any] = field(default_factory=dict)
    label_b2a: str | None = None  # menu label of b2a; None: ``label`` reversed (absent from older model.json)

    def menu_label(self, direction: str) -> str:
        """The label a menu shows for ``direction``."""
        if direction == "b2a":
            return self.label_b2a or reverse_label(self.label, self.name)
        return self.label

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelInfo:
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError("not a cyclegan-fx model.json of a known version")
        directions = {k: DirectionInfo(**v) for k, v in data["directions"].items()}
        known = ("name", "label", "training_size", "work_size", "provenance", "label_b2a")
        fields = {k: data[k] for k in known if k in data}
        return cls(directions=directions, **fields)


_TO = re.compile(r"^(.+?)(\s+to\s+)(.+)$", re.IGNORECASE)


def reverse_label(label: str, name: str) -> str:
    """The reverse direction's label: "Summer to Winter" gives "Winter to Summer", else "NAME (reverse)".

    The GIMP plug-in, which cannot import this package, applies the same rule to older model.json files.
    """
    found = _TO.match(label.strip())
    if found and not _TO.match(found.group(3)):
        return f"{found.group(3)}{found.group(2)}{found.group(1)}"
    return f"{name} (reverse)"


@dataclass(frozen=True)
class Model:
    """A model ready to load: its description and where its weights are."""

    info: ModelInfo
    path: Path  # the bundle folder, or the bare checkpoint file
    # A bare checkpoint's tensors, read once when it was resolved; each generator gets its own copy.
    state: Mapping[str, torch.Tensor] | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    def direction(self, direction: str) -> DirectionInfo:
        """The entry for ``direction``, or a DirectionError naming the ones present."""
        entry = self.info.directions.get(direction)
        if entry is None:
            have = " and ".join(self.info.directions) or "none"
            raise DirectionError(f"Model {self.name!r} has no {direction} generator (it has {have}).")
        return entry

    @property
    def is_engine(self) -> bool:
        """A compiled TensorRT engine pack: geometry and graphs, but no PyTorch weights."""
        return self.path.suffix == ENGINE_SUFFIX

    def generator(self, direction: str) -> Generator:
        """Build and load the generator of one direction (weightless, on the meta device, for an engine)."""
        entry = self.direction(direction)
        if self.is_engine:
            with torch.device("meta"):
                return generator_from_spec(entry.architecture)
        if self.state is not None:
            return generator_from_state_dict(self.state, source=str(self.path))
        return _load_bundle_weights(self.path / entry.weights, entry)


def _load_bundle_weights(path: Path, entry: DirectionInfo) -> Generator:
    from safetensors.torch import load_file

    generator = generator_from_spec(entry.architecture)
    try:
        state = load_file(path)
        generator.net.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors and torch raise several types for a damaged file
        raise CheckpointError(f"Cannot load {path}: the weights are damaged or do not match model.json ({exc}).") from exc
    generator.net.eval()
    return generator


def read_bundle(folder: Path) -> Model:
    """The model in a bundle folder."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ModelNotFoundError(f"{folder} is not a model bundle: it has no {MANIFEST}.")
    try:
        info = ModelInfo.from_json(json.loads(manifest.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest} is damaged or of an unknown version ({exc}).") from exc
    return Model(info, folder)


def write_direction(folder: Path, direction: str, generator: Generator, info: ModelInfo) -> Model:
    """Save one generator into a bundle (created if needed) and record it in model.json."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{direction}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in generator.net.state_dict().items()}
    with atomic_output(weights, overwrite=True) as tmp:
        save_file(state, tmp, metadata={"architecture": json.dumps(generator.spec())})
    entry = DirectionInfo(weights.name, generator.spec(), file_sha256(weights))
    info = replace(info, directions={**info.directions, direction: entry})
    write_manifest(folder, info)
    return Model(info, folder)


def write_manifest(folder: Path, info: ModelInfo) -> None:
    with atomic_output(folder / MANIFEST, overwrite=True) as tmp:
        tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")


def remove_bundle(folder: Path) -> None:
    """Delete a bundle: renamed away first, so a half-deleted bundle is never listed."""
    doomed = temporary_sibling(folder)
    folder.rename(doomed)
    shutil.rmtree(doomed)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
