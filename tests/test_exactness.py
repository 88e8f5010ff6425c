"""Exact tiled statistics on the real pretrained generator, against one whole-image pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import cpu_runner, psnr

from cyclegan_fx.networks import load_generator
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def runner(vintage_path) -> Runner:
    return cpu_runner(vintage_path)


@pytest.fixture(scope="module")
def rgb(photo) -> np.ndarray:
    return photo[:312, :470].astype(np.float32) / 255  # odd sizes: exercises the alignment padding


@pytest.fixture(scope="module")
def whole(runner, rgb) -> np.ndarray:
    return runner.run(rgb, RunOptions(tile=0))


TILES = [64, 96]


@pytest.mark.parametrize("tile", TILES)
def test_exact_statistics_match_the_whole_image_pass(runner, rgb, whole, tile):
    tiled = runner.run(rgb, RunOptions(tile=tile, stats=StatsMode.EXACT))
    assert psnr(tiled, whole, 1.0) >= 50


def test_per_tile_statistics_fail_the_same_check(runner, rgb, whole):
    """Proves the check above can fail: tiles normalized by their own statistics show seams. One tile size is
    enough (each tile computes its whole receptive field alone: 64-pixel tiles would take four times as long)."""
    tiled = runner.run(rgb, RunOptions(tile=TILES[-1], stats=StatsMode.TILE))
    assert psnr(tiled, whole, 1.0) < 35


def test_thumbnail_statistics_are_an_approximation(runner, rgb, whole):
    thumb = runner.run(rgb, RunOptions(tile=160, stats=StatsMode.THUMBNAIL, thumbnail_size=240))
    assert 25 < psnr(thumb, whole, 1.0) < 50


@pytest.mark.heavy
def test_bf16_stays_close_to_fp32(vintage_path, runner, rgb):
    part = rgb[:160, :232]  # a quarter of the photo: bf16 is emulated on CPUs without it, about 10x slower
    generator = load_generator(vintage_path)  # a backend takes its generator over
    bf16 = Runner(generator, TorchBackend(generator, CPU, torch.bfloat16))
    assert psnr(bf16.run(part, RunOptions(tile=96)), runner.run(part, RunOptions(tile=0)), 1.0) >= 40


def test_whole_image_pass_equals_the_plain_module(vintage, runner, rgb, whole):
    x = torch.from_numpy(np.pad(rgb, ((0, 0), (0, 2), (0, 0)), mode="reflect")).permute(2, 0, 1)[None] * 2 - 1
    with torch.inference_mode():
        ref = (vintage.net(x)[0, :, :, :470].permute(1, 2, 0).numpy() + 1) / 2
    assert np.abs(ref - whole).max() < 1e-4
