"""Unpaired training images: scanning the folders, per-sample augmentation, and a resumable epoch order."""

from __future__ import annotations

import logging
import math
import signal
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cyclegan_fx.errors import ConfigError, ImageReadError, ImageTooLargeError
from cyclegan_fx.io.image_read import image_size, load_image
from cyclegan_fx.runtime import pixels
from cyclegan_fx.training.config import TrainConfig
from cyclegan_fx.training.seeds import mix_seed

log = logging.getLogger("cyclegan_fx")

_SHOWN = 5  # file names quoted in a warning


@dataclass(frozen=True)
class ImageFile:
    path: Path
    size: tuple[int, int]  # width, height, upright


def scan_folder(folder: Path, min_side: int, minimum: int) -> list[ImageFile]:
    """The readable images under ``folder`` at least ``min_side`` pixels on both sides, warning about the rest."""
    if not folder.is_dir():
        raise ConfigError(f"Training folder {folder} does not exist or is not a folder.")
    candidates = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not candidates:
        raise ConfigError(f"Training folder {folder} is empty; put the training images there.")
    good, unreadable, small = [], [], []
    for path in candidates:
        size = _image_size(path)
        if size is None:
            unreadable.append(path)
        elif min(size) < min_side:
            small.append(path)
        else:
            good.append(ImageFile(path, size))
    _warn_skipped(unreadable, len(candidates), folder, "are not readable images")
    _warn_skipped(small, len(candidates), folder, f"are smaller than {min_side} pixels on a side")
    if len(good) < minimum:
        raise ConfigError(
            f"Training folder {folder} has {len(good)} usable image{'s' * (len(good) != 1)} "
            f"({len(unreadable)} unreadable, {len(small)} too small skipped); at least {minimum} are needed."
        )
    return good


def _image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the header, or None if this is not an image we read."""
    try:
        return image_size(path)
    except ImageReadError:
        return None


def _warn_skipped(paths: list[Path], total: int, folder: Path, why: str) -> None:
    if paths:
        names = ", ".join(p.name for p in paths[:_SHOWN]) + (", ..." if len(paths) > _SHOWN else "")
        log.warning("Skipped %d of %d files in %s that %s: %s.", len(paths), total, folder, why, names)


_UNDECODABLE = (ImageReadError, ImageTooLargeError)
_RGB8 = pixels.Layout(np.dtype(np.uint8), ndim=3, channels=3)


def load_rgb(path: Path) -> Image.Image:
    """Decode one image as ``apply`` does (upright, colour-managed CMYK), then as 8-bit RGB without alpha."""
    colour, _, _ = pixels.split(load_image(path).pixels)
    if colour.dtype != np.uint8:
        colour = pixels.join(pixels.to_float(colour), None, _RGB8)
    return Image.fromarray(colour)


class ScaleWidth:
    """The official scale_width: width to ``width``, height in proportion but at least ``min_height``."""

    def __init__(self, width: int, min_height: int) -> None:
        self.width, self.min_height = width, min_height

    def __call__(self, image: Image.Image) -> Image.Image:
        w, h = image.size
        height = int(max(self.width * h / w, self.min_height))
        return image if (w, h) == (self.width, height) else image.resize((self.width, height), Image.BICUBIC)


class MultipleOf:
    """Resize to the nearest multiple of ``base`` on each side, as the generators need."""

    def __init__(self, base: int) -> None:
        self.base = base

    def __call__(self, image: Image.Image) -> Image.Image:
        w, h = image.size
        size = (max(self.base, round(w / self.base) * self.base), max(self.base, round(h / self.base) * self.base))
        return image if size == (w, h) else image.resize(size, Image.BICUBIC)


def _scaling(config: TrainConfig) -> list:
    if config.preprocess.startswith("resize"):
        return [transforms.Resize([config.load_size, config.load_size], transforms.InterpolationMode.BICUBIC)]
    if config.preprocess.startswith("scale_width"):
        return [ScaleWidth(config.load_size, config.crop_size)]
    return []


_TO_TENSOR = [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]


def training_transform(config: TrainConfig, granularity: int) -> transforms.Compose:
    """The official get_transform: scale, random crop (or round to a usable size), random flip, to [-1, 1]."""
    if config.crops and config.crop_size % granularity:
        raise ConfigError(f"--crop-size must be a multiple of {granularity} for {config.netG}, not {config.crop_size}.")
    steps = _scaling(config)
    steps.append(transforms.RandomCrop(config.crop_size) if config.crops else MultipleOf(granularity))
    if not config.no_flip:
        steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps + _TO_TENSOR)


def sample_transform(config: TrainConfig) -> transforms.Compose:
    """Deterministic view of a held-out image for sample grids: scaled as in training, centre crop."""
    return transforms.Compose([*_scaling(config), transforms.CenterCrop(config.crop_size), *_TO_TENSOR])


def min_side(config: TrainConfig, granularity: int) -> int:
    """Smallest image side the preprocessing can use."""
    if config.preprocess == "crop":
        return config.crop_size
    return granularity if config.preprocess == "none" else 1


def work_size(config: TrainConfig, files: list[ImageFile]) -> int:
    """Median long side of the training images after scaling: the scale the generators learned at."""
    def long_side(w: int, h: int) -> float:
        if config.preprocess.startswith("resize"):
            return config.load_size
        if config.preprocess.startswith("scale_width"):
            return max(config.load_size, config.load_size * h / w, config.crop_size)
        return max(w, h)

    return round(statistics.median(long_side(*f.size) for f in files))


class SampleKey(NamedTuple):
    """One training pair: the epoch, its position in the epoch, and which A and B image it pairs."""

    epoch: int
    position: int
    index_a: int
    index_b: int


def epoch_batches(n_a: int, n_b: int, seed: int, epoch: int, batch_size: int, rank: int = 0, world: int = 1) -> list[list[SampleKey]]:
    """This rank's batches of an epoch: both domains shuffled by a permutation seeded by (seed, epoch).

    An epoch has max(n_a, n_b) positions, padded so every rank gets as many; rank r takes r, r+world, ...
    """
    order = torch.Generator().manual_seed(mix_seed(seed, epoch))
    order_a = torch.randperm(n_a, generator=order).tolist()
    order_b = torch.randperm(n_b, generator=order).tolist()
    length = max(n_a, n_b)
    padded = math.ceil(length / world) * world
    keys = [SampleKey(epoch, p, order_a[p % length % n_a], order_b[p % length % n_b]) for p in range(rank, padded, world)]
    return [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]


def steps_per_epoch(n_a: int, n_b: int, batch_size: int, world: int = 1) -> int:
    return math.ceil(math.ceil(max(n_a, n_b) / world) / batch_size)


class UnpairedImages(Dataset):
    """Pairs of independent A and B images; augmentation is a pure function of (seed, epoch, position)."""

    def __init__(self, files_a: list[ImageFile], files_b: list[ImageFile], transform: transforms.Compose, seed: int) -> None:
        self.files = (files_a, files_b)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return max(len(self.files[0]), len(self.files[1]))

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        return self._sample(0, key.index_a, key), self._sample(1, key.index_b, key)

    def _sample(self, domain: int, index: int, key: SampleKey) -> torch.Tensor:
        image = self._decode(domain, index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mix_seed(self.seed, key.epoch, key.position, domain))
            return self.transform(image)

    def _decode(self, domain: int, index: int) -> Image.Image:
        """The image, or, if it cannot be decoded after all, the next one that can (with a warning)."""
        files = self.files[domain]
        for offset in range(len(files)):
            path = files[(index + offset) % len(files)].path
            try:
                return load_rgb(path)
            except _UNDECODABLE as exc:
                log.warning("%s Training uses the next image instead.", exc)
        raise ConfigError(f"None of the {len(files)} training images of domain {'AB'[domain]} can be decoded.")


def _ignore_stop_signals(worker_id: int) -> None:
    """Workers leave Ctrl-C and SIGTERM to the training process, which checkpoints and then stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_loader(dataset: UnpairedImages, batches: list[list[SampleKey]], num_workers: int, pin_memory: bool) -> DataLoader:
    """A loader over exactly these batches; its own generator keeps it off the global RNG."""
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_ignore_stop_signals if num_workers else None,
        generator=torch.Generator(),
    )


def load_samples(files: list[ImageFile], transform: transforms.Compose, count: int) -> torch.Tensor:
    """The first ``count`` decodable images, as a batch, for sample grids."""
    images = []
    for f in files:
        if len(images) == count:
            break
        try:
            images.append(transform(load_rgb(f.path)))
        except _UNDECODABLE as exc:
            log.warning("%s It is left out of the sample grids.", exc)
    if not images:
        raise ConfigError(f"None of the images in {files[0].path.parent} can be decoded for sample grids.")
    return torch.stack(images)


@dataclass(frozen=True)
class TrainingData:
    """The scanned training folders, the dataset over them, and fixed held-out images for sample grids."""

    files_a: list[ImageFile]
    files_b: list[ImageFile]
    dataset: UnpairedImages
    samples_a: torch.Tensor
    samples_b: torch.Tensor

    def batches(self, epoch: int, batch_size: int, rank: int = 0, world: int = 1) -> list[list[SampleKey]]:
        return epoch_batches(len(self.files_a), len(self.files_b), self.dataset.seed, epoch, batch_size, rank, world)

    def steps_per_epoch(self, batch_size: int, world: int = 1) -> int:
        return steps_per_epoch(len(self.files_a), len(self.files_b), batch_size, world)


def open_data(config: TrainConfig, granularity: int, world: int = 1) -> TrainingData:
    """Scan the configured folders and set up augmentation; held-out samples come from testA/testB if present."""
    train_a, train_b, test_a, test_b = config.folders()
    side, minimum = min_side(config, granularity), config.batch_size * world
    files_a = scan_folder(train_a, side, minimum)
    files_b = scan_folder(train_b, side, minimum)
    dataset = UnpairedImages(files_a, files_b, training_transform(config, granularity), config.seed)
    shown = sample_transform(config)
    held_a = scan_folder(test_a, 1, 1) if test_a else files_a
    held_b = scan_folder(test_b, 1, 1) if test_b else files_b
    return TrainingData(files_a, files_b, dataset, load_samples(held_a, shown, config.num_samples),
                        load_samples(held_b, shown, config.num_samples))
