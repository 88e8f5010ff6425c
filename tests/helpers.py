"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from cyclegan_fx.cli import cli
from cyclegan_fx.networks import (
    CompactConfig,
    Generator,
    ResnetConfig,
    UnetConfig,
    build_generator,
    init_weights,
    load_generator,
)
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend

DATA = Path(__file__).resolve().parent / "data"
# A small configuration of every architecture and variant: case -> (architecture, config).
SMALL = {"resnet": ("resnet", ResnetConfig(ngf=8, n_blocks=2)),
         "resnet-factorised": ("resnet", ResnetConfig(ngf=8, n_blocks=2, rank=6)),
         "unet": ("unet", UnetConfig(ngf=8, num_downs=5)),
         "compact": ("compact", CompactConfig(channels=16, n_blocks=2))}


def invoke(*args: object) -> tuple[int, str]:
    """Run the CLI in-process; return its exit code and everything it printed."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def cpu_runner(path: Path, dtype: torch.dtype = torch.float32, work_size: int | None = None) -> Runner:
    """A CPU runner on a generator of its own, loaded from ``path`` (a backend takes its generator over)."""
    generator = load_generator(path)
    return Runner(generator, TorchBackend(generator, torch.device("cpu"), dtype), work_size)


def tiny_generator(seed: int = 0, **params) -> Generator:
    """A small, randomly initialized ResNet generator: fast, with real instance norms."""
    torch.manual_seed(seed)
    config = ResnetConfig(**{"ngf": 8, "n_blocks": 2, **params})
    generator = build_generator("resnet", config)
    init_weights(generator.net, "normal", 0.2)
    generator.net.eval()
    return generator


def small_generator(case: str, seed: int = 0) -> Generator:
    """A small generator of a case in SMALL, with weights large enough to make every layer count."""
    torch.manual_seed(seed)
    generator = build_generator(*SMALL[case])
    init_weights(generator.net, "normal", 0.2)
    return generator


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def crops(photo: str, count: int, size: int, seed: int) -> list[np.ndarray]:
    """Random ``size`` x ``size`` crops of one of the test photos."""
    image = np.asarray(Image.open(DATA / f"{photo}.jpg").convert("RGB"))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        y, x = rng.integers(0, image.shape[0] - size), rng.integers(0, image.shape[1] - size)
        out.append(image[y : y + size, x : x + size])
    return out


def write_folder(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


class WritesOnLoad:
    """Code in a checkpoint: unpickling this calls Path.write_text, leaving ``marker`` behind if it ever runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "the checkpoint's code ran")


def save_with_code(state: dict, path: Path, marker: Path) -> None:
    """``state`` plus a code payload, pickled with protocol 4 (which makes torch.load warn before refusing it)."""
    torch.save({**state, "hook": WritesOnLoad(marker)}, path, pickle_protocol=4)
