"""The user's model store: named bundles under the XDG data dir (or ``$CYCLEGAN_FX_HOME``)."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import replace
from pathlib import Path

from cyclegan_fx.errors import ConfigError, ModelNotFoundError, OutputError
from cyclegan_fx.models import builtin
from cyclegan_fx.models.bundle import (
    DEFAULT_WORK_SIZE,
    Model,
    ModelInfo,
    file_sha256,
    read_bundle,
    remove_bundle,
    write_direction,
    write_manifest,
)
from cyclegan_fx.networks import Generator, load_generator

HOME_ENV = "CYCLEGAN_FX_HOME"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def store_home() -> Path:
    """``$CYCLEGAN_FX_HOME``, else ``$XDG_DATA_HOME/cyclegan-fx``, else ``~/.local/share/cyclegan-fx``."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "cyclegan-fx"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"Model name {name!r} is not allowed; use letters, digits, '-' and '_' (at most 64, no leading symbol)."
        )
    return name


class ModelStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home if home is not None else store_home()
        self.models_dir = self.home / "models"

    def names(self) -> list[str]:
        """Installed model names, the built-in default included once it can be installed."""
        self._install_builtin()
        if not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir() if (p / "model.json").is_file())

    def list(self) -> list[Model]:
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> Model:
        folder = self.models_dir / check_name(name)
        if not (folder / "model.json").is_file() and name == builtin.NAME:
            self._install_builtin()
        if not (folder / "model.json").is_file():
            have = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(
                f"No model named {name!r} (installed: {have}); add one with 'cyclegan-fx models import'."
            )
        return read_bundle(folder)

    def import_checkpoint(
        self,
        path: Path,
        name: str,
        label: str | None = None,
        direction: str = "a2b",
        training_size: int | None = None,
        work_size: int | None = DEFAULT_WORK_SIZE,
        provenance: dict | None = None,
        label_b2a: str | None = None,
    ) -> Model:
        """Convert a checkpoint into a bundle, or add a direction to an existing bundle."""
        generator = load_generator(path)
        origin = {"source": str(path.resolve()), "sha256": file_sha256(path), "imported": _now(), **(provenance or {})}
        return self.add_generator(name, generator, direction, label, training_size, work_size, origin,
                                  label_b2a=label_b2a)

    def add_generator(
        self,
        name: str,
        generator: Generator,
        direction: str,
        label: str | None = None,
        training_size: int | None = None,
        work_size: int | None = DEFAULT_WORK_SIZE,
        provenance: dict | None = None,
        overwrite: bool = False,
        label_b2a: str | None = None,
    ) -> Model:
        """Store a generator as one direction of the bundle ``name``; ``provenance`` describes its origin.

        ``label`` is the menu label of a2b, ``label_b2a`` that of b2a; None keeps what the bundle has.
        An existing generator of that direction is an error unless ``overwrite`` is true.
        """
        folder = self.models_dir / check_name(name)
        info = read_bundle(folder).info if (folder / "model.json").is_file() else None
        if info is None:
            info = ModelInfo(name, label or name, {}, training_size, work_size)
        elif direction in info.directions and not overwrite:
            raise OutputError(f"Model {name!r} already has a {direction} generator; remove the model first.")
        info = replace(info, label=label or info.label, label_b2a=label_b2a or info.label_b2a,
                       provenance={**info.provenance, direction: provenance or {}})
        return write_direction(folder, direction, generator, info)

    def set_label(self, name: str, direction: str, label: str) -> Model:
        """Change the menu label of one direction of an installed model."""
        model = self.get(name)
        if not label.strip():
            raise ConfigError("A menu label cannot be empty.")
        field = "label_b2a" if direction == "b2a" else "label"
        info = replace(model.info, **{field: label.strip()})
        write_manifest(model.path, info)
        return replace(model, info=info)

    def add_provenance(self, name: str, direction: str, extra: dict) -> Model:
        """Add entries (a quality report, say) to what model.json records of one direction's origin."""
        model = self.get(name)
        model.direction(direction)
        provenance = {**model.info.provenance, direction: {**model.info.provenance.get(direction, {}), **extra}}
        info = replace(model.info, provenance=provenance)
        write_manifest(model.path, info)
        return replace(model, info=info)

    def remove(self, name: str) -> None:
        folder = self.models_dir / check_name(name)
        if not (folder / "model.json").is_file():
            raise ModelNotFoundError(f"No model named {name!r} to remove.")
        remove_bundle(folder)

    def _install_builtin(self) -> None:
        """Import the default model from the vintagify package the first time it is needed."""
        folder = self.models_dir / builtin.NAME
        if (folder / "model.json").is_file():
            return
        source = builtin.checkpoint_path()
        if source is None:
            return
        try:
            self.import_checkpoint(source, builtin.NAME, **builtin.IMPORT_OPTIONS)
        except OutputError:
            if not (folder / "model.json").is_file():
                raise  # not a concurrent install of the same model


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def cache_home() -> Path:
    """Derived files (exported graphs, timing caches): ``$CYCLEGAN_FX_HOME/cache`` or the XDG cache dir."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser() / "cache"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "cyclegan-fx"
