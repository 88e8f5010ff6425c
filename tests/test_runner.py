"""The runner on tiny generators: layouts, work size, strength, progress, threads, memory errors."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch
from helpers import psnr, tiny_generator

from cyclegan_fx.errors import ConfigError, DeviceError, ImageTooLargeError, ImageTooSmallError
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.executor import Grid
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.schedule import STORED_MEMORY_SHARE, exact_schedule, stored_schedule
from cyclegan_fx.runtime.sizing import canvas_bytes
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")
FULL = RunOptions(work_size="full")


@pytest.fixture(scope="module")
def tiny() -> Runner:
    generator = tiny_generator()
    return Runner(generator, TorchBackend(generator, CPU, torch.float32), work_size=None)


@pytest.fixture(scope="module")
def image(photo) -> np.ndarray:
    return photo[:150, :222]  # not a multiple of 4 on purpose


def test_interpreter_equals_the_module_forward(tiny, image):
    rgb = image.astype(np.float32) / 255
    out = tiny.run(rgb, RunOptions(tile=0))
    x = torch.from_numpy(np.pad(rgb, ((0, 2), (0, 2), (0, 0)), mode="reflect")).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        ref = (tiny.generator.net(x)[0, :, :150, :222].permute(1, 2, 0).numpy() + 1) / 2
    assert np.abs(out - ref).max() < 1e-5


@pytest.mark.parametrize("tile", [16, 36, 64])
def test_exact_tiles_equal_the_whole_image_pass_on_a_tiny_net(tiny, image, tile):
    rgb = image.astype(np.float32) / 255
    whole = tiny.run(rgb, RunOptions(tile=0))
    tiled = tiny.run(rgb, RunOptions(tile=tile))
    assert psnr(tiled, whole, 1.0) > 80


def test_per_tile_statistics_do_not(tiny, image):
    rgb = image.astype(np.float32) / 255
    whole = tiny.run(rgb, RunOptions(tile=0))
    assert psnr(tiny.run(rgb, RunOptions(tile=32, stats=StatsMode.TILE)), whole, 1.0) < 40


@pytest.mark.parametrize(
    "make",
    [
        lambda im: im,
        lambda im: im[:, :, 0],
        lambda im: im[:, :, :1],
        lambda im: np.dstack([im[:, :, 0], np.arange(im[:, :, 0].size, dtype=np.uint8).reshape(im.shape[:2])]),
        lambda im: np.dstack([im, np.full(im.shape[:2], 77, np.uint8)]),
        lambda im: im.astype(np.uint16) * 257 + 3,
        lambda im: im.astype(np.float32) / 255,
    ],
    ids=["rgb8", "gray2d", "gray3d", "gray-alpha", "rgba", "rgb16", "float"],
)
def test_every_layout_comes_back_in_the_same_layout_with_alpha_untouched(tiny, image, make):
    pixels = make(image)
    out = tiny.run(pixels, FULL)
    assert out.shape == pixels.shape and out.dtype == pixels.dtype
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels in (2, 4):
        assert np.array_equal(out[:, :, -1], pixels[:, :, -1])
    if channels == 3 and pixels.dtype == np.uint16:
        assert (out % 257 != 0).any()  # real 16-bit output, not 8-bit scaled up


def test_strength_zero_returns_the_input_and_half_is_between(tiny, image):
    assert np.array_equal(tiny.run(image, RunOptions(work_size="full", strength=0.0)), image)
    full = tiny.run(image, FULL).astype(int)
    half = tiny.run(image, RunOptions(work_size="full", strength=0.5)).astype(int)
    assert np.abs(half - (image.astype(int) + full) / 2).max() <= 1


def test_work_size_keeps_the_input_size_and_its_fine_detail(tiny, photo):
    fine = tiny.run(photo, RunOptions(work_size=120))
    assert fine.shape == photo.shape

    def high_freq(a):
        a = a.astype(np.float32).mean(2)
        return np.abs(np.diff(a, axis=1)).mean()

    small = tiny.run(photo.astype(np.float32) / 255, RunOptions(tile=0))
    # detail restoration keeps the input's edge energy; a plain upscale of a 120 px result loses most of it
    assert high_freq(fine) > 0.6 * high_freq(photo)
    assert small.shape[:2] == photo.shape[:2]


def test_the_model_default_work_size_applies_unless_overridden(image):
    generator = tiny_generator()
    runner = Runner(generator, TorchBackend(generator, CPU, torch.float32), work_size=64)
    calls = []
    runner.run(image, RunOptions(), progress=calls.append)
    small_tiles = calls[-1].tiles_total
    calls.clear()
    runner.run(image, RunOptions(work_size="full", tile=64), progress=calls.append)
    assert calls[-1].tiles_total > small_tiles


def test_progress_is_monotonic_and_complete(tiny, image):
    reports = []
    tiny.run(image, RunOptions(work_size="full", tile=32), progress=reports.append)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert reports[-1].tiles_done == reports[-1].tiles_total > 10


def test_one_runner_serves_many_threads(tiny, photo):
    crops = [np.ascontiguousarray(photo[i * 40 : i * 40 + 120, i * 50 : i * 50 + 160]) for i in range(4)]
    expected = [tiny.run(c, RunOptions(work_size="full", tile=48)) for c in crops]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: tiny.run(c, RunOptions(work_size="full", tile=48)), crops * 2))
    for got, want in zip(results, expected * 2):
        assert np.array_equal(got, want)


def test_thumbnail_statistics_are_exact_at_full_size_and_approximate_below(tiny, image):
    rgb = image.astype(np.float32) / 255
    whole = tiny.run(rgb, RunOptions(tile=0))
    same = tiny.run(rgb, RunOptions(tile=32, stats=StatsMode.THUMBNAIL, thumbnail_size=224))
    smaller = tiny.run(rgb, RunOptions(tile=32, stats=StatsMode.THUMBNAIL, thumbnail_size=112))
    assert psnr(same, whole, 1.0) > 80
    assert psnr(smaller, whole, 1.0) < 60


def test_a_memory_limit_switches_to_the_lean_schedule_with_the_same_result(tiny, photo):
    from cyclegan_fx.runtime.devices import process_rss
    from cyclegan_fx.runtime.sizing import HOST_RESERVE

    big = np.ascontiguousarray(np.tile(photo, (3, 3, 1))[:1024, :1536])
    fast_reports, lean_reports = [], []
    fast = tiny.run(big, RunOptions(work_size="full", tile=256), progress=fast_reports.append)
    pixels = 1024 * 1536  # exact: two 32-channel canvases at 1/4 resolution (16 B/px); lean: one (8 B/px)
    limit = process_rss() + HOST_RESERVE + 24 * pixels + 12 * pixels
    lean = tiny.run(big, RunOptions(work_size="full", tile=256, max_memory=limit), progress=lean_reports.append)
    assert lean_reports[-1].tiles_total > fast_reports[-1].tiles_total  # more sweeps: the lean schedule ran
    assert psnr(lean, fast, 255) > 60
    with pytest.raises(DeviceError, match="need"):
        tiny.run(big, RunOptions(work_size="full", tile=256, max_memory=process_rss() + HOST_RESERVE))

    # A backend that runs only the exact schedule's segments (an exported pack) is never given the lean one.
    backend = TorchBackend(tiny.generator, CPU, torch.float32)
    backend.segments = frozenset(w.segment for w in exact_schedule(tiny.generator.program).sweeps)
    with pytest.raises(DeviceError, match="need"):
        Runner(tiny.generator, backend).run(big, RunOptions(work_size="full", tile=256, max_memory=limit))


class RecordingBackend:
    """The real backend, remembering which segments it was asked to run."""

    def __init__(self, inner: TorchBackend) -> None:
        self.inner = inner
        self.name, self.device, self.dtype, self.tuning = inner.name, inner.device, inner.dtype, inner.tuning
        self.max_tile = self.max_batch = self.segments = None
        self.ran: set = set()

    def run(self, segment, x, skips, stats):
        self.ran.add(segment)
        return self.inner.run(segment, x, skips, stats)


def test_the_stored_schedule_runs_each_layer_once_where_a_share_of_memory_holds_it(tiny, photo):
    from cyclegan_fx.runtime.devices import process_rss
    from cyclegan_fx.runtime.sizing import HOST_RESERVE

    program = tiny.generator.program
    stored, exact = stored_schedule(program), exact_schedule(program)
    once = sum(program.macs_per_pixel(w.segment.start, w.segment.end) for w in stored.sweeps)
    assert once == pytest.approx(program.macs_per_pixel())  # no layer recomputed
    assert once < sum(program.macs_per_pixel(w.segment.start, w.segment.end) for w in exact.sweeps)

    big = np.ascontiguousarray(np.tile(photo, (3, 3, 1))[:1024, :1536])
    grid = Grid([], 1024, 1536, 1)
    need = {"stored": canvas_bytes(program, stored, grid, 4), "exact": canvas_bytes(program, exact, grid, 4)}
    assert need["exact"] < need["stored"]
    outputs = {}
    for expected, limit in (("stored", None), ("exact", need["stored"] / STORED_MEMORY_SHARE - 1)):
        backend = RecordingBackend(tiny.backend)
        max_memory = None if limit is None else int(process_rss() + HOST_RESERVE + limit)
        outputs[expected] = Runner(tiny.generator, backend).run(big, RunOptions(work_size="full", tile=256,
                                                                                max_memory=max_memory))
        schedule = stored if expected == "stored" else exact
        assert backend.ran == {w.segment for w in schedule.sweeps}
    assert np.abs(outputs["stored"].astype(int) - outputs["exact"].astype(int)).max() <= 1


class FlakyMemoryBackend:
    """The real backend, but tiles larger than ``limit`` pixels raise CUDA's out-of-memory error."""

    def __init__(self, inner: TorchBackend, limit: int) -> None:
        self.inner, self.limit = inner, limit
        self.name, self.device, self.dtype, self.tuning = inner.name, inner.device, inner.dtype, inner.tuning
        self.max_tile = self.max_batch = self.segments = None
        self.sizes: list[int] = []

    def run(self, segment, x, skips, stats):
        self.sizes.append(x.shape[2] * x.shape[3])
        if x.shape[2] * x.shape[3] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.run(segment, x, skips, stats)


def test_out_of_memory_halves_the_tile_and_still_gives_the_exact_result(tiny, photo):
    backend = FlakyMemoryBackend(tiny.backend, limit=150 * 150)
    runner = Runner(tiny.generator, backend, None)
    out = runner.run(photo, RunOptions(work_size="full", tile=512))
    assert np.array_equal(out, tiny.run(photo, RunOptions(work_size="full", tile=100)))
    assert max(backend.sizes) > 150 * 150  # it did hit the limit first


def test_out_of_memory_at_the_smallest_tile_is_one_clear_error(tiny, photo):
    runner = Runner(tiny.generator, FlakyMemoryBackend(tiny.backend, limit=10), None)
    with pytest.raises(DeviceError, match="Out of memory"):
        runner.run(photo, RunOptions(work_size="full", tile=256))


def test_limits_and_bad_arrays_are_user_errors(tiny):
    with pytest.raises(ImageTooLargeError):
        tiny.run(np.zeros((100, 100, 3), np.uint8), RunOptions(max_pixels=5000))
    with pytest.raises(ImageTooSmallError):
        tiny.run(np.zeros((5, 100, 3), np.uint8), FULL)
    with pytest.raises(ConfigError):
        tiny.run(np.zeros((10, 10, 5), np.uint8), FULL)
    with pytest.raises(ConfigError):
        tiny.run(np.zeros((10, 10, 3), np.int64), FULL)
    with pytest.raises(ConfigError):
        RunOptions(strength=1.5)


@pytest.mark.parametrize("stats", list(StatsMode))
def test_the_input_array_is_never_modified(tiny, image, stats):
    for pixels in (image.copy(), image.astype(np.float32) / 255):
        before = pixels.copy()
        tiny.run(pixels, RunOptions(work_size="full", tile=64, stats=stats, strength=0.5))
        assert np.array_equal(pixels, before)
