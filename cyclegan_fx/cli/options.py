"""Options shared by the commands that run a model; they map onto RunOptions, not the reverse."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from cyclegan_fx.runtime.config import BACKENDS, DEFAULT_MAX_PIXELS, DEVICES, PRECISIONS, RunOptions, StatsMode


class WorkSizeType(click.ParamType):
    name = "N|full"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("full", "model"):
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of pixels nor 'full'", param, ctx)


class SizeType(click.ParamType):
    """A byte count such as 4G, 3500M or 1073741824."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in self._UNITS else ""
        try:
            return int(float(text[: len(text) - len(unit)]) * self._UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size such as 4G or 3500M", param, ctx)


def model_options(command: Callable) -> Callable:
    """--model, --direction, and the device options."""
    decorators = [
        click.option("-m", "--model", default="vintage", show_default=True,
                     help="Model store name, bundle folder, or generator file (.pth/.safetensors)."),
        click.option("-d", "--direction", type=click.Choice(["a2b", "b2a"]), default="a2b", show_default=True,
                     help="Which generator of the model to apply."),
        device_options,
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), command)


def device_options(command: Callable) -> Callable:
    """--device, --precision, --backend."""
    decorators = [
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="auto: fp16 on CUDA; on a CPU bf16 where it has native bf16 (AVX-512 BF16/AMX), else fp32."),
        click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
                     help="auto: TensorRT if an engine for this GPU is cached, else PyTorch "
                          "(ONNX Runtime only when asked for)."),
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), command)


def run_options(command: Callable) -> Callable:
    """Options of RunOptions, collected into one ``options`` argument."""
    defaults = RunOptions()
    decorators = [
        click.option("--stats", type=click.Choice([m.value for m in StatsMode]), default=defaults.stats.value,
                     show_default=True,
                     help="Norm statistics: exact (equals a whole-image pass), thumbnail (fast, approximate), "
                          "tile (per tile, shows seams; for comparison)."),
        click.option("--tile", type=click.IntRange(min=0), default=None,
                     help="Tile core size in pixels; 0 = one whole-image pass. Default: the fastest that fits in "
                          "free memory (256 on a CPU). On a CPU, 128-512 cost within 10% of the default; 1024 and "
                          "more are slower (1.1-1.5x) and take more memory."),
        click.option("--batch", type=click.IntRange(min=1), default=None, help="Tiles per network call."),
        click.option("--work-size", type=WorkSizeType(), default="model",
                     help="Translate at this long side and restore full-resolution detail, or 'full'. "
                          "Default: the model's recommendation."),
        click.option("--strength", type=click.FloatRange(0.0, 1.0), default=defaults.strength, show_default=True,
                     help="Blend with the input: 0 keeps it, 1 is the full translation."),
        click.option("--thumbnail-size", type=click.IntRange(min=16), default=defaults.thumbnail_size,
                     show_default=True, help="Long side of the copy used by --stats thumbnail."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
                     help="Refuse images with more pixels than this (decompression-bomb guard)."),
        click.option("--max-memory", type=SizeType(), default=None,
                     help="Keep the process within this much memory (e.g. 4G); exact statistics then trade "
                          "speed for memory when needed. Default: what is free."),
    ]

    @functools.wraps(command)
    def wrapper(*args, stats, tile, batch, work_size, strength, thumbnail_size, max_pixels, max_memory, **kwargs):
        options = RunOptions(StatsMode(stats), tile, batch, work_size, strength, thumbnail_size, max_pixels,
                             max_memory)
        return command(*args, options=options, **kwargs)

    return functools.reduce(lambda f, d: d(f), reversed(decorators), wrapper)
