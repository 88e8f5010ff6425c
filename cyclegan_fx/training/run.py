"""A run folder: the resolved configuration, checkpoints, sample grids and loss records of one training run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyclegan_fx.errors import ConfigError, OutputError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.training.checkpoint import step_checkpoints
from cyclegan_fx.training.config import to_toml


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def existing(cls, path: Path) -> RunFolder:
        """The run at ``path``, or a ConfigError if it holds no checkpoint."""
        run = cls(path)
        if not run.has_checkpoints():
            raise ConfigError(f"{path} is not a training run with a checkpoint (looked in {run.checkpoints}).")
        return run

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def losses_csv(self) -> Path:
        return self.path / "losses.csv"

    @property
    def losses_png(self) -> Path:
        return self.path / "losses.png"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def has_checkpoints(self) -> bool:
        return bool(step_checkpoints(self.checkpoints))

    def create(self) -> None:
        """Make the folder and its subfolders, or say in one sentence why that is not possible."""
        for folder in (self.path, self.checkpoints, self.samples):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"Cannot create run folder {folder}: {exc.strerror or exc}.") from exc

    def save_config(self, config) -> None:
        """config.toml of any configuration with ``to_dict`` (training or distillation)."""
        with atomic_output(self.config_file, overwrite=True) as tmp:
            tmp.write_text(to_toml(config), encoding="utf-8")
