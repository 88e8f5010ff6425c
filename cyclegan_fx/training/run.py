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


def new_run(config) -> RunFolder:
    """The folder of a new run of ``config`` (training or distillation), created with its config.toml on rank 0.

    Refused in one sentence when it has checkpoints already, or when the model store has a model of that name
    that this run did not make (where the run stores its model when it ends).
    """
    from cyclegan_fx.models import ModelStore
    from cyclegan_fx.training.distributed import launched_rank
    from cyclegan_fx.training.export import check_export_name  # imports this module

    run = RunFolder(config.runs_dir / config.name)
    if run.has_checkpoints():
        raise ConfigError(f"Run folder {run.path} has checkpoints already; continue it with --resume {run.path} "
                          "or choose another --name.")
    if config.auto_export:
        check_export_name(ModelStore(), config.name, run)
    if launched_rank() == 0:
        run.create()
        run.save_config(config)
    return run


def reopen_run(path: Path) -> tuple[RunFolder, Path, dict]:
    """A run to resume, its newest checkpoint that loads, and that checkpoint's contents."""
    from cyclegan_fx.training.checkpoint import load_latest

    run = RunFolder.existing(path)
    checkpoint, state = load_latest(run.checkpoints)
    return run, checkpoint, state
