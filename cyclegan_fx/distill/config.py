"""Every distillation option in one dataclass; the CLI flags and the run's config.toml map onto it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclegan_fx.config_fields import check_fields, flag, option
from cyclegan_fx.errors import ConfigError

AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass(frozen=True)
class StudentDefaults:
    width: int
    lr: float


# compact: 64 channels at the 4x coarser grid (15 times fewer multiply-adds than vintage's ResNet per pixel);
# 3e-3 fitted a few crops faster but diverged after 700 steps of a real run (README, Distillation).
# factorised: the width is the rank; it starts as the teacher, so it fine-tunes at a tenth of the rate.
STUDENTS = {"compact": StudentDefaults(64, 1e-3), "resnet": StudentDefaults(16, 1e-3),
            "factorised": StudentDefaults(32, 1e-4)}


@dataclass(frozen=True)
class DistillConfig:
    """A distillation run: a compact student learns to reproduce the teacher's output on crops of the user's photos."""

    # what to learn from and where it goes
    teacher: str = option("", "Teacher model: a store name, bundle folder or generator file (not an engine).")
    data: Path | None = option(None, "Photos for the a2b direction (any folder of images, searched recursively).")
    data_b: Path | None = option(None, "Photos for the b2a direction, where the teacher has one.")
    eval: Path | None = option(None, "Held-out a2b photos for the quality report (never trained on).")
    eval_b: Path | None = option(None, "Held-out b2a photos for the quality report.")
    name: str = option("", "Run and model store name of the student (letters, digits, '-', '_').")
    label: str | None = option(None, "Menu label of the student's a2b; default: the teacher's with ' (fast)'.")
    label_b2a: str | None = option(None, "Menu label of the student's b2a; default: the teacher's with ' (fast)'.")
    runs_dir: Path = option(Path("runs"), "Folder that holds the run folders.")
    # the student
    student: str = option("compact", "Student architecture: compact (folds 4x4 pixels into channels and learns the "
                                     "change to its input), resnet (the teacher's design, narrower) or factorised (a "
                                     "ResNet teacher with its 3x3 convolutions cut to --width by SVD, starting from "
                                     "the teacher's weights).", tuple(STUDENTS))
    width: int | None = option(None, "Student width: the compact generator's channels (default 64), the ResNet's "
                                     "filters in its first layer (default 16; the teacher's ngf is usually 64) or the "
                                     "factorised convolutions' rank (default 32).")
    blocks: int | None = option(None, "Residual blocks of the student; default: 9 for compact, the teacher's for resnet "
                                      "(factorised: always the teacher's).")
    # the crops it learns on
    crop_size: int = option(256, "Side of the square training crops.")
    min_scale: float = option(0.5, "Smallest scale of a view (a photo the teacher translates whole, then cut into "
                                   "crops), relative to the photo at the teacher's work size.")
    max_scale: float = option(1.0, "Largest scale of a view, relative to the photo at the teacher's work size; the "
                                   "teacher's time grows with its square.")
    colour_jitter: float = option(0.0, "Hue, saturation and channel-gain jitter of views (0: none, 1: the full hue "
                                        "circle), for photos of few colours.")
    pool: int = option(800, "Crops whose teacher outputs are computed once and cached on disk.")
    crops_per_view: int = option(8, "Crops cut from each view: more crops per view leave fewer views for the "
                                    "teacher to translate (less time) and less variety.")
    cache_mb: int = option(2048, "Most disk space the cached crops and teacher outputs may take, in MB.")
    # the loss and optimization
    ssim_weight: float = option(0.2, "Weight of the structure term (1 - SSIM) beside the L1 pixel term.")
    steps: int = option(3000, "Optimizer steps per direction.")
    batch_size: int = option(4, "Crops per step (per process under torchrun).")
    lr: float | None = option(None, "Peak Adam learning rate; default: 1e-3.", maximum=1.0)
    clip_grad: float = option(1.0, "Largest norm of a step's gradient (0: no clipping); a student's first "
                                   "gradients are about 1.")
    warmup: float = option(0.05, "Fraction of the steps over which the learning rate rises to its peak; cosine decay follows.")
    seed: int = option(0, "Seed of initialization and of the crops.")
    # how it runs
    max_steps: int | None = option(None, "Stop after this many steps in all, to continue later with --resume (smoke runs).")
    device: str = option("auto", "auto, cpu, cuda or cuda:N (torchrun picks the GPU of each process).")
    amp: str = option("auto", "Mixed precision: auto is bf16 where the device supports it (CPUs included).", AMP_MODES)
    checkpoint_every: int = option(500, "Steps between checkpoints.")
    keep_checkpoints: int = option(2, "Most recent checkpoints to keep.")
    sample_every: int = option(500, "Steps between sample grids (0: only the last one, which every run writes).")
    log_every: int = option(50, "Steps between loss records.")
    auto_export: bool = option(True, "Store the student and its quality report when the run ends.")

    def __post_init__(self) -> None:
        check_fields(self, _MINIMUMS)
        # Frozen: the student's defaults are filled in once, so the saved config says what was used.
        defaults = STUDENTS[self.student]
        object.__setattr__(self, "width", self.width or defaults.width)
        object.__setattr__(self, "lr", self.lr or defaults.lr)
        if self.student == "factorised" and self.blocks is not None:
            raise ConfigError("The factorised student keeps every block of its teacher; drop --blocks.")
        if self.min_scale > self.max_scale:
            raise ConfigError(f"--min-scale {self.min_scale} is larger than --max-scale {self.max_scale}.")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"--warmup must be in [0, 1), not {self.warmup}.")
        if self.cache_bytes() > self.cache_mb * 2**20:
            raise ConfigError(
                f"--pool {self.pool} crops of {self.crop_size} px need {self.cache_bytes() / 2**20:.0f} MB of cache, "
                f"over --cache-mb {self.cache_mb}; lower --pool or raise --cache-mb."
            )

    def cache_bytes(self) -> int:
        """Disk taken by one direction's cached crops: uint8 inputs and float16 teacher outputs."""
        return self.pool * 3 * self.crop_size**2 * (1 + 2)

    def directions(self) -> dict[str, tuple[Path, Path | None]]:
        """Training and held-out folders of each direction that has data."""
        found = {d: (train, held) for d, train, held in (("a2b", self.data, self.eval), ("b2a", self.data_b, self.eval_b))
                 if train is not None}
        if not found:
            raise ConfigError("Say what to distill on: --data (and --data-b for the reverse direction), folders of photos.")
        return found

    def absolute(self) -> DistillConfig:
        """The same configuration with every path absolute, so that it holds from any working folder."""
        paths = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Path)}
        return dataclasses.replace(self, **{name: path.expanduser().absolute() for name, path in paths.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings, unset options left out), for TOML and checkpoints."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DistillConfig:
        paths = {f.name for f in dataclasses.fields(cls) if "Path" in str(f.type)}
        return cls(**{k: Path(v) if k in paths else v for k, v in values.items()})


_MINIMUMS = {
    "width": 2, "blocks": 1, "crop_size": 64, "min_scale": 0.01, "max_scale": 0.01, "colour_jitter": 0.0, "pool": 1, "crops_per_view": 1,
    "cache_mb": 1, "ssim_weight": 0.0, "clip_grad": 0.0, "steps": 1, "batch_size": 1, "lr": 1e-12, "seed": 0, "max_steps": 1, "checkpoint_every": 1,
    "keep_checkpoints": 1, "sample_every": 0, "log_every": 1,
}

# Options that may differ when a run is resumed: they change how it runs, not what it learns.
RESUMABLE = frozenset({"eval", "eval_b", "name", "label", "label_b2a", "runs_dir", "device", "checkpoint_every",
                       "keep_checkpoints", "sample_every", "log_every", "auto_export", "max_steps"})


def resume_config(saved: DistillConfig, overrides: dict[str, Any], run: Path) -> DistillConfig:
    """The saved configuration with the given overrides, refusing any that would change what is learned.

    --max-steps stopped the earlier invocation; it does not carry over unless given again.
    """
    saved = dataclasses.replace(saved, max_steps=None)
    changed = {k: v for k, v in overrides.items() if v is not None and v != getattr(saved, k)}
    clashes = sorted(set(changed) - RESUMABLE)
    if clashes:
        first = clashes[0]
        raise ConfigError(f"Cannot resume {run} with {flag(first)} {changed[first]}: the run was distilled with "
                          f"{getattr(saved, first)}; drop that option or start a new run with another --name.")
    return dataclasses.replace(saved, **changed)
