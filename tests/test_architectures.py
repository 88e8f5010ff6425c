"""Every registered generator architecture through the runner, its exactness and its export.

Parametrized over the registry the way timm tests every model it registers: an architecture added to
``ARCHITECTURES`` without a small configuration in ``helpers.SMALL`` fails the first test. Variants of one
architecture (the factorised ResNet) are cases of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import SMALL, psnr, small_generator

from cyclegan_fx.networks import ARCHITECTURES
from cyclegan_fx.networks.checkpoint import generator_from_state_dict
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")
FULL = RunOptions(work_size="full", tile=0)


def torch_runner(name: str) -> Runner:
    generator = small_generator(name)
    return Runner(generator, TorchBackend(generator, CPU, torch.float32))


@pytest.fixture(scope="module")
def rgb(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[:96, :128]).astype(np.float32) / 255  # a multiple of every granularity


def test_every_architecture_has_a_small_configuration():
    assert {arch for arch, _ in SMALL.values()} == set(ARCHITECTURES)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_whole_image_pass_equals_the_plain_module(name, rgb):
    reference = small_generator(name).net.eval()
    with torch.inference_mode():
        expected = reference(torch.from_numpy(rgb).permute(2, 0, 1)[None] * 2 - 1)[0].permute(1, 2, 0)
    out = torch_runner(name).run(rgb, FULL)
    assert np.abs(out - (expected.numpy() + 1) / 2).max() < 1e-4


@pytest.mark.parametrize("name", sorted(SMALL))
def test_exact_tiles_equal_the_whole_image_pass(name, photo):
    """Tileable architectures are cut into tiles; the others run whole whatever the tile asked for.
    Either way the result is the whole-image pass."""
    runner = torch_runner(name)
    image = np.ascontiguousarray(photo[:200, :264])
    whole = runner.run(image, FULL)
    tiled = runner.run(image, RunOptions(work_size="full", tile=64, stats=StatsMode.EXACT))
    assert psnr(tiled, whole, 255) >= 50


@pytest.mark.parametrize("name", sorted(SMALL))
def test_tile_statistics_show_seams_only_where_tiles_are_cut(name, photo):
    runner = torch_runner(name)
    image = np.ascontiguousarray(photo[:200, :264])
    whole = runner.run(image, FULL)
    per_tile = runner.run(image, RunOptions(work_size="full", tile=64, stats=StatsMode.TILE))
    if runner.generator.tileable:
        assert psnr(per_tile, whole, 255) < 45  # own statistics per tile: the check above could fail
    else:
        assert np.array_equal(per_tile, whole)  # never cut, so nothing to differ


@pytest.mark.parametrize("name", sorted(SMALL))
def test_frames_together_equal_one_call_each(name, photo):
    runner = torch_runner(name)
    frames = [np.ascontiguousarray(photo[y : y + 96, x : x + 128]) for y, x in ((0, 0), (50, 70), (100, 140))]
    options = RunOptions(work_size="full", tile=64, batch=3)
    for frame, out in zip(frames, runner.run_batch(frames, options)):
        # Several tiles in one convolution call may round differently from one: a level at most.
        assert np.abs(out.astype(int) - runner.run(frame, options).astype(int)).max() <= 1


@pytest.mark.parametrize("name", sorted(SMALL))
def test_checkpoint_detection_finds_the_architecture_and_its_parameters(name):
    generator = small_generator(name, seed=4)
    found = generator_from_state_dict(generator.net.state_dict())
    assert found.spec() == generator.spec()
    for a, b in zip(found.net.state_dict().values(), generator.net.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(SMALL))
def test_onnx_runtime_backend_equals_pytorch(name, photo, tmp_path):
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    from cyclegan_fx.export.build import build_onnx_pack
    from cyclegan_fx.runtime.onnx_backend import OnnxRuntimeBackend

    generator = small_generator(name)
    pack = build_onnx_pack(generator, {}, "fp32", tmp_path / f"{name}.pack")
    image = np.ascontiguousarray(photo[:200, :264])
    options = RunOptions(work_size="full", tile=64)
    expected = torch_runner(name).run(image, options)
    assert psnr(Runner(generator, OnnxRuntimeBackend(pack)).run(image, options), expected, 255) >= 50
