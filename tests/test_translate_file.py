"""The one path of an image file (read, translate, write) and the cache of warm runners, on real models."""

from __future__ import annotations

import resource
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from watch_helpers import save_tiny_model

from cyclegan_fx.errors import ModelNotFoundError, OutputError
from cyclegan_fx.io.atomic import leftover_temporaries
from cyclegan_fx.io.image_format import ImageMeta
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.io.image_write import save_image
from cyclegan_fx.models import resolve_model
from cyclegan_fx.runners.cache import RunnerCache
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runners.translate_file import translate_file
from cyclegan_fx.runtime.config import ModelChoice, RunOptions

OPTIONS = RunOptions(work_size=64)


@pytest.fixture(scope="module")
def runner():
    return open_runner(resolve_model("vintage"), "a2b", "cpu", "fp32", "torch")


@pytest.fixture
def source(tmp_path, photo) -> Path:
    path = tmp_path / "in.png"
    save_image(path, photo[100:196, 150:278], ImageMeta("PNG", b"an opaque icc profile", None))
    return path


def test_the_output_is_the_runner_on_the_loaded_pixels_bit_for_bit(runner, source, tmp_path):
    target = tmp_path / "out.png"
    translate_file(runner, source, target, OPTIONS, overwrite=False)
    loaded = load_image(source)
    written = load_image(target)
    np.testing.assert_array_equal(written.pixels, runner.run(loaded.pixels, OPTIONS))
    assert written.meta.icc_profile == b"an opaque icc profile"
    assert np.abs(written.pixels.astype(int) - loaded.pixels).mean() > 3  # really translated


def test_sixteen_bit_png_keeps_its_depth(runner, photo, tmp_path):
    deep = photo[100:196, 150:278].astype(np.uint16) * 257 + 100
    save_image(tmp_path / "deep.png", deep)
    translate_file(runner, tmp_path / "deep.png", tmp_path / "out.png", OPTIONS, overwrite=False)
    written = load_image(tmp_path / "out.png").pixels
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, runner.run(deep, OPTIONS))


def test_an_existing_target_is_refused_before_any_work_and_replaced_only_with_overwrite(runner, source, tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"an earlier result")
    with pytest.raises(OutputError, match="exists already; pass --overwrite"):
        translate_file(runner, tmp_path / "no-such-input.png", target, OPTIONS, overwrite=False)  # nothing read
    assert target.read_bytes() == b"an earlier result"
    translate_file(runner, source, target, OPTIONS, overwrite=True)
    np.testing.assert_array_equal(load_image(target).pixels, runner.run(load_image(source).pixels, OPTIONS))


def test_a_write_that_fails_half_way_leaves_no_file(runner, source, tmp_path):
    """A real failure in the middle of writing: the process may not write files over 4 KiB."""
    target = tmp_path / "out.png"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OutputError, match=f"Cannot write {target}: File too large"):
            translate_file(runner, source, target, OPTIONS, overwrite=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert not target.exists() and leftover_temporaries(target) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_the_cache_opens_a_model_once_for_many_threads_and_again_when_its_file_changes(tmp_path, photo):
    model = save_tiny_model(tmp_path / "tiny.pth", seed=0)
    opened = []

    def counting_open(*args):
        opened.append(args)
        return open_runner(*args)

    cache = RunnerCache(open=counting_open)
    key = ModelChoice(str(model), "a2b", "cpu", "fp32", "torch")
    start = threading.Barrier(8)

    def get(_):
        start.wait()
        return cache.get(key)

    with ThreadPoolExecutor(8) as pool:
        warm = list(pool.map(get, range(8)))
    assert all(w is warm[0] for w in warm) and len(opened) == 1 and cache.loaded() == [key]
    assert cache.get(key) is warm[0]
    image = photo[:64, :64]
    before = warm[0].run(image, RunOptions(work_size="full"))

    save_tiny_model(model, seed=1)
    fresh = cache.get(key)
    assert fresh is not warm[0] and len(opened) == 2 and cache.loaded() == [key]
    assert np.abs(fresh.run(image, RunOptions(work_size="full")).astype(int) - before).mean() > 3


def test_a_changed_model_that_cannot_be_opened_keeps_the_one_before_until_it_changes_again(tmp_path, caplog):
    model = save_tiny_model(tmp_path / "tiny.pth", seed=0)
    cache = RunnerCache()
    key = ModelChoice(str(model), "a2b", "cpu", "fp32", "torch")
    first = cache.get(key)
    model.write_bytes(b"half a copy")
    assert cache.get(key) is first and cache.get(key) is first
    assert caplog.text.count("changed but cannot be loaded") == 1  # tried once per change, not per image
    save_tiny_model(model, seed=1)
    assert cache.get(key) is not first
    with pytest.raises(ModelNotFoundError):  # nothing to fall back on: the first open's error
        cache.get(ModelChoice(str(tmp_path / "missing.pth")))
