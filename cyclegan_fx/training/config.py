"""Every training option in one dataclass with the official CycleGAN defaults; TOML in and out."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx.config_fields import check_fields, field_kinds, flag, option
from cyclegan_fx.errors import ConfigError
from cyclegan_fx.io.toml_file import read_toml_file

NET_D_KINDS = ("basic", "n_layers", "pixel")
GAN_MODES = ("lsgan", "vanilla", "wgangp")
LR_POLICIES = ("linear", "step", "plateau", "cosine")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """A training run; field names are the official ``train.py`` option names where one exists."""

    # what to train on and where the run goes
    data: Path | None = option(None, "Folder with trainA/ and trainB/ (and optionally testA/, testB/).")
    a: Path | None = option(None, "Folder of domain A images (instead of DATA).")
    b: Path | None = option(None, "Folder of domain B images (instead of DATA).")
    name: str = option("", "Run and model store name (letters, digits, '-', '_').")
    label: str | None = option(None, "Menu label of the exported model, e.g. 'Summer to Winter'.")
    label_b2a: str | None = option(None, "Menu label of its reverse direction; default: the label reversed "
                                       "('Winter to Summer').")
    runs_dir: Path = option(Path("runs"), "Folder that holds the run folders.")
    # networks
    netG: str = option("resnet_9blocks", "Generator architecture.", ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"))
    netD: str = option("basic", "Discriminator: 70x70 PatchGAN, n-layer PatchGAN or per-pixel.", NET_D_KINDS)
    n_layers_D: int = option(3, "Layers of the n_layers discriminator.")
    ngf: int = option(64, "Generator filters in the first conv layer.")
    ndf: int = option(64, "Discriminator filters in the first conv layer.")
    norm: str = option("instance", "Normalization layers.", ("instance", "batch", "none"))
    init_type: str = option("normal", "Weight initialization.", ("normal", "xavier", "kaiming", "orthogonal"))
    init_gain: float = option(0.02, "Scale of normal, xavier and orthogonal initialization.")
    # losses
    gan_mode: str = option("lsgan", "GAN objective; wgangp adds a gradient penalty.", GAN_MODES)
    lambda_A: float = option(10.0, "Weight of the cycle loss A -> B -> A.")
    lambda_B: float = option(10.0, "Weight of the cycle loss B -> A -> B.")
    lambda_identity: float = option(0.5, "Weight of the identity loss, relative to lambda_A and lambda_B.")
    pool_size: int = option(50, "Generated images kept to show the discriminators (0: none).")
    # optimization
    lr: float = option(2e-4, "Initial Adam learning rate.")
    beta1: float = option(0.5, "Adam beta1.")
    n_epochs: int = option(100, "Epochs at the initial learning rate.")
    n_epochs_decay: int = option(100, "Epochs of linear decay to zero after those.")
    lr_policy: str = option("linear", "Learning-rate schedule.", LR_POLICIES)
    lr_decay_iters: int = option(50, "Epochs between x0.1 steps of the step policy.")
    # data
    preprocess: str = option("resize_and_crop", "How training images are scaled and cropped.", PREPROCESS_MODES)
    load_size: int = option(286, "Images are scaled to this size first.")
    crop_size: int = option(256, "Then cropped to this size.")
    no_flip: bool = option(False, "Do not flip training images horizontally.")
    batch_size: int = option(1, "Images per iteration (per process under torchrun).")
    num_workers: int = option(4, "Processes that decode images (0: the training process does).")
    seed: int = option(0, "Seed of initialization, data order and augmentation.")
    # how it runs
    max_steps: int | None = option(None, "Stop after this many iterations in all (smoke runs).")
    device: str = option("auto", "auto, cpu, cuda or cuda:N (torchrun picks the GPU of each process).")
    amp: str = option("auto", "Mixed precision: auto is bf16 on CUDA where supported, off on the CPU.", AMP_MODES)
    channels_last: bool = option(True, "Use the channels-last memory layout on CUDA.")
    compile: bool = option(False, "torch.compile the networks.")
    # what it writes
    checkpoint_every: int = option(5000, "Iterations between checkpoints.")
    keep_checkpoints: int = option(3, "Most recent checkpoints to keep (plus the best by cycle loss).")
    sample_every: int = option(400, "Iterations between sample grids (0: only the last one, which every run writes).")
    num_samples: int = option(4, "Held-out images in each sample grid.")
    log_every: int = option(100, "Iterations between loss records.")
    tensorboard: bool = option(False, "Also log to TensorBoard (needs the tensorboard package).")
    auto_export: bool = option(True, "Write both generators to the model store when training ends.")

    def __post_init__(self) -> None:
        check_fields(self, _MINIMUMS)
        if not 0.0 <= self.beta1 < 1.0:
            raise ConfigError(f"--beta1 must be in [0, 1), not {self.beta1}.")
        if self.n_epochs + self.n_epochs_decay < 1:
            raise ConfigError("--n-epochs plus --n-epochs-decay must be at least 1.")
        if "crop" in self.preprocess and self.preprocess != "crop" and self.crop_size > self.load_size:
            raise ConfigError(f"--crop-size {self.crop_size} is larger than --load-size {self.load_size}.")
        if self.batch_size > 1 and not self.crops:
            raise ConfigError(
                f"--preprocess {self.preprocess} keeps each image's own size, so it needs --batch-size 1."
            )

    @property
    def crops(self) -> bool:
        """Whether every training image becomes a crop_size square."""
        return "crop" in self.preprocess

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def folders(self) -> tuple[Path, Path, Path | None, Path | None]:
        """Training folders of A and B, and held-out folders for samples where there are any."""
        if self.data is not None and (self.a or self.b):
            raise ConfigError("Give either DATA or --a and --b, not both.")
        if self.data is not None:
            test_a, test_b = self.data / "testA", self.data / "testB"
            return self.data / "trainA", self.data / "trainB", _dir_or_none(test_a), _dir_or_none(test_b)
        if self.a is None or self.b is None:
            raise ConfigError("Say what to train on: DATA (with trainA/ and trainB/), or both --a and --b.")
        return self.a, self.b, None, None

    def absolute(self) -> TrainConfig:
        """The same configuration with every path absolute, so that it holds from any working folder."""
        paths = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Path)}
        return dataclasses.replace(self, **{name: path.expanduser().absolute() for name, path in paths.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings, unset options left out), for TOML and checkpoints."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = str(value) if isinstance(value, Path) else value
        return out


_MINIMUMS = {
    "n_layers_D": 1, "ngf": 1, "ndf": 1, "init_gain": 0.0, "lambda_A": 0.0, "lambda_B": 0.0,
    "lambda_identity": 0.0, "pool_size": 0, "lr": 1e-12, "n_epochs": 0, "n_epochs_decay": 0, "lr_decay_iters": 1,
    "load_size": 1, "crop_size": 1, "batch_size": 1, "num_workers": 0, "seed": 0, "max_steps": 1,
    "checkpoint_every": 1, "keep_checkpoints": 1, "sample_every": 0, "num_samples": 1, "log_every": 1,
}

# Options that may differ when a run is resumed: they change how it runs, not what it learns.
RESUMABLE = frozenset({
    "data", "a", "b", "name", "label", "label_b2a", "runs_dir", "max_steps", "num_workers", "device", "amp", "channels_last",
    "compile", "checkpoint_every", "keep_checkpoints", "sample_every", "num_samples", "log_every", "tensorboard",
    "auto_export",
})


def _dir_or_none(path: Path) -> Path | None:
    return path if path.is_dir() else None


def coerce(name: str, value: Any, source: str) -> Any:
    """``value`` as the type of option ``name``, or a ConfigError naming ``source``."""
    kind = field_kinds(TrainConfig).get(name)
    if kind is None:
        raise ConfigError(f"Unknown option {name!r} in {source}.")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is Path and isinstance(value, str):
        return Path(value).expanduser()
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"Option {name!r} in {source} must be {_TYPE_WORDS[kind]}, not {value!r}.")
    return value


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", Path: "a path"}


def read_toml(path: Path) -> dict[str, Any]:
    """Options from a flat TOML file; keys may use '-' or '_'."""
    raw = read_toml_file(path)
    return {key.replace("-", "_"): coerce(key.replace("-", "_"), value, str(path)) for key, value in raw.items()}


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """Defaults, overridden by each layer in turn (e.g. a TOML file, then command-line flags)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    return TrainConfig(**merged)


def config_from_dict(values: dict[str, Any], source: str) -> TrainConfig:
    """A configuration saved by ``to_dict`` (a checkpoint's, or a run's config.toml)."""
    return TrainConfig(**{k: coerce(k, v, source) for k, v in values.items()})


def resume_config(saved: TrainConfig, overrides: dict[str, Any], run: Path) -> TrainConfig:
    """The saved configuration with the given overrides, refusing any that would change what is learned."""
    changed = {k: v for k, v in overrides.items() if v is not None and v != getattr(saved, k)}
    clashes = sorted(set(changed) - RESUMABLE)
    if clashes:
        first = clashes[0]
        raise ConfigError(
            f"Cannot resume {run} with {flag(first)} {changed[first]}: the run was trained with "
            f"{getattr(saved, first)}; drop that option or start a new run with another --name."
        )
    return dataclasses.replace(saved, **changed)


def to_toml(config) -> str:
    """A configuration (anything with ``to_dict``) as flat TOML, every option written out."""
    lines = ["# Resolved configuration of this run; its command's --config accepts it."]
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.to_dict().items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    return '"' + "".join(_toml_char(c) for c in value) + '"'


def _toml_char(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04X}"
    return c
