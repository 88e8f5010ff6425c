"""The CPU fast paths: narrow convolutions split by columns, banded moments, the one-pass given norm,
and wide cores for the bottleneck sweeps; each against the plain computation it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import cpu_runner
from torch import nn

from cyclegan_fx.networks import Program, load_generator
from cyclegan_fx.runtime.backend import Tuning
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.cpu_layers import CPU_TUNING, ColumnSplitConv2d, for_cpu
from cyclegan_fx.runtime.executor import sweep_tiles
from cyclegan_fx.runtime.interpreter import given_norm
from cyclegan_fx.runtime.moments import Moments
from cyclegan_fx.runtime.schedule import at_cheapest, exact_schedule
from cyclegan_fx.runtime.sizing import choose_grid
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 0.1}


def channels_last(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape).to(dtype).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kernel", [3, 7])
def test_column_split_convolution_equals_the_convolution(dtype, kernel):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 3, kernel).to(dtype)
    x = channels_last(2, 16, 21, 30, dtype=dtype)
    with torch.inference_mode():
        split = ColumnSplitConv2d(conv)(x)
        exact = nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double())
    assert split.dtype == dtype and split.shape == exact.shape
    assert split.is_contiguous(memory_format=torch.channels_last)
    assert (split.double() - exact).abs().max() < TOLERANCE[dtype] * exact.abs().max()


def test_only_narrow_plain_convolutions_are_replaced(vintage):
    ops = Program.of(vintage.net, vintage.in_channels).ops
    swapped = [i for i, (a, b) in enumerate(zip(ops, for_cpu(ops))) if a.module is not b.module]
    assert [type(ops[i].module).__name__ for i in swapped] == ["Conv2d"]
    assert ops[swapped[0]].module.out_channels == 3


@pytest.mark.parametrize("band", [CPU_TUNING.moment_band, None], ids=["banded", "whole"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_moments_match_float64_and_leave_the_core_untouched(dtype, band):
    canvas = channels_last(1, 64, 70, 90, dtype=dtype) * 3 + 1
    core = canvas[0, :, 5:69, 3:80]
    assert 64 * core.shape[2] * 2 < CPU_TUNING.moment_band < core.numel()  # several bands of several rows
    before = core.clone()
    moments = Moments(band)
    moments.add(core[:, :40])
    moments.add(core[:, 40:])
    stats = moments.result()
    reference = core.double()
    assert torch.equal(core, before)
    assert torch.allclose(stats.mean, reference.mean((1, 2)), atol=1e-6)
    assert torch.allclose(stats.var, reference.var((1, 2), correction=0), rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_pass_norm_equals_the_formula_per_tile(dtype):
    norm = nn.InstanceNorm2d(8, affine=True)
    nn.init.uniform_(norm.weight)
    nn.init.uniform_(norm.bias)
    x = channels_last(3, 8, 9, 11, dtype=dtype)
    mean, var = torch.randn(3, 8, 1, 1), torch.rand(3, 8, 1, 1) + 0.1
    with torch.inference_mode():
        out = given_norm(norm, x, mean, var)
    expected = (x.double() - mean) / torch.sqrt(var.double() + norm.eps) * norm.weight.view(1, -1, 1, 1)
    expected = expected + norm.bias.view(1, -1, 1, 1)
    assert out.dtype == dtype
    assert (out.double() - expected).abs().max() < TOLERANCE[dtype] * 10


def test_bottleneck_sweeps_run_on_wide_tiles_and_others_on_the_chosen_ones(vintage, vintage_path):
    backend = TorchBackend(load_generator(vintage_path), CPU, torch.float32)
    program = Program.of(vintage.net, vintage.in_channels)
    grid = choose_grid(program, backend, 768, 1024, 128, None, StatsMode.EXACT)
    sweeps = exact_schedule(program).sweeps
    counts = {at_cheapest(program, s.segment): len(sweep_tiles(program, s, grid)) for s in sweeps}
    assert counts == {False: 6 * 8, True: 2 * 2}


def test_wide_bottleneck_tiles_keep_statistics_exact(vintage_path, photo):
    runner = cpu_runner(vintage_path)
    rgb = photo[:300, :520].astype(np.float32) / 255
    whole = runner.run(rgb, RunOptions(tile=0))
    tiled = runner.run(rgb, RunOptions(tile=64))
    assert np.abs(tiled - whole).max() < 2e-3


def test_a_whole_canvas_tile_is_read_in_place_and_left_unchanged(vintage_path, photo):
    """One tile covering the image passes canvases to the backend as views; the result must not change."""
    runner = cpu_runner(vintage_path)
    rgb = np.ascontiguousarray(photo[:96, :128]).astype(np.float32) / 255
    before = rgb.copy()
    first = runner.run(rgb, RunOptions(tile=0))
    again = runner.run(rgb, RunOptions(tile=0))
    tiled = runner.run(rgb, RunOptions(tile=32))
    assert np.array_equal(rgb, before) and np.array_equal(first, again)
    assert np.abs(tiled - first).max() < 2e-3


def test_glibc_keeps_freed_tile_buffers_for_reuse():
    """Fresh buffers for every tile cost page faults; the setting must take on this (glibc) machine."""
    import platform

    from cyclegan_fx.runtime.host_memory import reuse_freed_buffers

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the allocator setting is for glibc only")
    assert reuse_freed_buffers() is True


@pytest.mark.parametrize("change", [{"max_tile": 256}, {"tuning": Tuning()}], ids=["fixed-profile", "gpu-tuning"])
def test_backends_without_wide_cores_run_every_sweep_on_the_chosen_tiles(vintage, vintage_path, change):
    """An engine (fixed profiles) or a backend whose tuning has no wide core (GPUs) uses the same tiles
    for every sweep."""
    backend = TorchBackend(load_generator(vintage_path), CPU, torch.float32)
    for name, value in change.items():
        setattr(backend, name, value)
    program = Program.of(vintage.net, vintage.in_channels)
    grid = choose_grid(program, backend, 768, 1024, 128, None, StatsMode.EXACT)
    assert grid.wide_cores is None
    assert {len(sweep_tiles(program, s, grid)) for s in exact_schedule(program).sweeps} == {6 * 8}
