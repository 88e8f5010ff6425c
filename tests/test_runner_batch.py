"""Several images in one runner call, and statistics chosen by the caller (given, or adjusted by a hook)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import psnr, tiny_generator

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.runtime.backend import NormStats
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.statistics import AdjustedStats, GivenStats
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny() -> Runner:
    generator = tiny_generator(seed=4)
    return Runner(generator, TorchBackend(generator, CPU, torch.float32), work_size=None)


@pytest.fixture(scope="module")
def frames(photo) -> list[np.ndarray]:
    """Three different crops of one size (not a multiple of 4)."""
    return [photo[y : y + 118, x : x + 170] for y, x in ((0, 0), (90, 150), (250, 400))]


class Recorder:
    """A hook that keeps what it saw and changes nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[NormStats]]] = []

    def __call__(self, position: int, measured: list[NormStats]) -> list[NormStats]:
        self.calls.append((position, measured))
        return measured

    def stats(self, image: int) -> dict[int, NormStats]:
        return {position: measured[image] for position, measured in self.calls}


@pytest.mark.parametrize("options", [
    RunOptions(work_size="full", tile=32, batch=3),  # tiles of different images share backend calls
    RunOptions(work_size="full", tile=0),  # one whole-image tile per image
    RunOptions(work_size=96, tile=48, batch=2, strength=0.7),  # work size, detail restore and blending per image
    RunOptions(work_size="full", tile=48, stats=StatsMode.THUMBNAIL, thumbnail_size=64),
])
def test_a_batch_call_equals_one_call_per_image(tiny, frames, options):
    together = tiny.run_batch(frames, options)
    assert len(together) == len(frames)
    for frame, out in zip(frames, together):
        alone = tiny.run(frame, options)
        assert out.shape == alone.shape and out.dtype == alone.dtype
        assert np.abs(out.astype(int) - alone.astype(int)).max() <= 1  # float sums in another order


def test_the_hook_sees_every_norm_in_order_with_one_measurement_per_image(tiny, frames):
    recorder = Recorder()
    options = RunOptions(work_size="full", tile=48, batch=2)
    out = tiny.run_batch(frames, options, statistics=AdjustedStats(recorder))
    assert [p for p, _ in recorder.calls] == list(tiny.generator.program.norms)
    program = tiny.generator.program
    for position, measured in recorder.calls:
        assert len(measured) == len(frames)
        assert all(s.mean.shape == (program.channels_before[position],) for s in measured)
    assert all(np.array_equal(a, b) for a, b in zip(out, tiny.run_batch(frames, options)))


@pytest.mark.parametrize("tile", [0, 48])
def test_given_statistics_reproduce_the_exact_result_in_one_sweep(tiny, frames, tile):
    options = RunOptions(work_size="full", tile=tile)
    recorder = Recorder()
    exact = tiny.run(frames[1], options, statistics=AdjustedStats(recorder))
    given = tiny.run(frames[1], options, statistics=GivenStats(recorder.stats(0)))
    assert psnr(given, exact, 1.0) > 90


def test_statistics_returned_by_the_hook_are_the_ones_used_at_every_later_layer(tiny, frames):
    """A hook that gives every image the first image's statistics makes the others use them throughout:
    the same as running them with the first image's statistics given."""
    first = Recorder()
    tiny.run(frames[0], RunOptions(work_size="full", tile=48), statistics=AdjustedStats(first))

    def borrow_first(position, measured):
        return [measured[0]] * len(measured)

    out = tiny.run_batch(frames, RunOptions(work_size="full", tile=48, batch=2), statistics=AdjustedStats(borrow_first))
    for frame, result in zip(frames[1:], out[1:]):
        expected = tiny.run(frame, RunOptions(work_size="full"), statistics=GivenStats(first.stats(0)))
        assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1  # convolutions of other tile shapes
        assert psnr(result, tiny.run(frame, RunOptions(work_size="full")), 1.0) < 60  # it did change


def test_the_hook_adjusts_thumbnail_statistics_too(tiny, frames):
    options = RunOptions(work_size="full", tile=48, stats=StatsMode.THUMBNAIL, thumbnail_size=64)
    recorder = Recorder()
    out = tiny.run(frames[2], options, statistics=AdjustedStats(recorder))
    assert [p for p, _ in recorder.calls] == list(tiny.generator.program.norms)
    assert psnr(out, tiny.run(frames[2], options, statistics=GivenStats(recorder.stats(0))), 1.0) > 90


def test_misuse_is_refused(tiny, frames):
    with pytest.raises(ConfigError, match="one shape"):
        tiny.run_batch([frames[0], frames[1][:100]])
    with pytest.raises(ConfigError, match="not tile"):
        tiny.run(frames[0], RunOptions(stats=StatsMode.TILE), statistics=AdjustedStats(Recorder()))
    with pytest.raises(ValueError, match="lack"):
        tiny.run(frames[0], statistics=GivenStats({}))
    with pytest.raises(ValueError, match="returned"):
        tiny.run_batch(frames, RunOptions(work_size="full", tile=64), statistics=AdjustedStats(lambda p, measured: measured[:1]))
    assert tiny.run_batch([]) == []
