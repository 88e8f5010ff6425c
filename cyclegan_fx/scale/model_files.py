"""Ship a model to the workers through Ray's object store, so that no node needs the driver's model store."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.models import Model
from cyclegan_fx.models.bundle import MANIFEST
from cyclegan_fx.models.store import cache_home

_BUNDLE = "model"


@dataclass(frozen=True)
class ModelFiles:
    """The files one direction of a model needs, by '/'-separated name, and what to resolve once unpacked."""

    files: dict[str, bytes]
    entry: str  # the bundle folder or the model file, relative to where the files are unpacked
    digest: str


def pack_model(model: Model, direction: str) -> ModelFiles:
    """A bundle's manifest and the weights of ``direction``; a generator file or an engine with its sidecar."""
    if model.path.is_dir():
        weights = model.direction(direction).weights
        names = {f"{_BUNDLE}/{MANIFEST}": model.path / MANIFEST, f"{_BUNDLE}/{weights}": model.path / weights}
        entry = _BUNDLE
    else:
        names = {model.path.name: model.path}
        if model.is_engine:
            from cyclegan_fx.export.engine import sidecar_path

            sidecar = sidecar_path(model.path)
            names[sidecar.name] = sidecar
        entry = model.path.name
    files = {name: path.read_bytes() for name, path in names.items()}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return ModelFiles(files, entry, digest.hexdigest()[:16])


def unpack_model(model: ModelFiles) -> str:
    """Write the files once per node (under the cache dir) and return what ``resolve_model`` takes."""
    root = cache_home() / "ray-models" / model.digest
    if not root.is_dir():
        staging = temporary_sibling(root)
        for name, data in model.files.items():
            path = staging.joinpath(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            os.rename(staging, root)
        except OSError:  # another worker on this node unpacked the same model first
            if not root.is_dir():
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)
    return str(Path(root, *model.entry.split("/")))
