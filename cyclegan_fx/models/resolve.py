"""Turn a ``--model`` value into a Model: a store name, a bundle folder or a checkpoint file."""

from __future__ import annotations

from pathlib import Path

from cyclegan_fx.errors import ModelNotFoundError
from cyclegan_fx.models.bundle import ENGINE_SUFFIX, MANIFEST, DirectionInfo, Model, ModelInfo, read_bundle
from cyclegan_fx.models.store import ModelStore
from cyclegan_fx.networks import generator_from_state_dict, read_state_dict

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")


def resolve_model(ref: str, store: ModelStore | None = None) -> Model:
    """A model from a store name, a bundle folder, a generator file (direction a2b) or an engine."""
    path = Path(ref).expanduser()
    if path.is_dir():
        if (path / MANIFEST).is_file():
            return read_bundle(path)
        raise ModelNotFoundError(f"{path} is a folder but not a model bundle (it has no {MANIFEST}).")
    if path.suffix in (*CHECKPOINT_SUFFIXES, ENGINE_SUFFIX):
        if not path.is_file():
            raise ModelNotFoundError(f"Model file {path} does not exist.")
        return engine_model(path) if path.suffix == ENGINE_SUFFIX else checkpoint_model(path)
    return (store or ModelStore()).get(ref)


def checkpoint_model(path: Path) -> Model:
    """A one-direction model around a bare generator checkpoint, read once."""
    state = read_state_dict(path)
    entry = DirectionInfo(str(path.resolve()), generator_from_state_dict(state, source=str(path)).spec())
    return Model(ModelInfo(path.stem, path.stem, {"a2b": entry}), path, state)


def engine_model(path: Path) -> Model:
    """A one-direction model around a TensorRT engine pack, described by its manifest."""
    from cyclegan_fx.runtime.pack import read_pack

    meta = read_pack(path).manifest["model"]
    entry = DirectionInfo(str(path.resolve()), meta["architecture"], meta["weights_sha256"])
    info = ModelInfo(meta["name"], meta["label"], {meta["direction"]: entry}, meta["training_size"], meta["work_size"])
    return Model(info, path)
