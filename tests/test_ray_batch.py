"""`cyclegan-fx batch` on a real local Ray runtime: two CPU workers and the real vintage generator at a
small work size. Outputs equal `apply`'s, failures are reported while the rest succeed, a killed job
resumes without rewriting anything, a killed worker is restarted, and file:// URIs take the object-store path."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke
from PIL import Image
from test_images import exif_block, parsed_exif, srgb_icc

from cyclegan_fx.io.image_format import ImageMeta
from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.io.image_write import save_image

pytestmark = pytest.mark.heavy  # a real heavy component: the quick tier deselects it (-m "not heavy")

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--device", "cpu", "--precision", "fp32", "--backend", "torch", "--work-size", "64"]
WORKERS = ["--threads", "1"]  # two workers on this 2-CPU runtime
ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def ray_runtime():
    """One local Ray runtime for the module (starting one costs seconds); jobs run in-process join it."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def photo_crop(photo: np.ndarray, y: int, x: int, h: int, w: int) -> np.ndarray:
    return np.ascontiguousarray(photo[y : y + h, x : x + w])


@pytest.fixture(scope="module")
def images(tmp_path_factory, photo) -> Path:
    """Small images of every kind whose metadata must survive: 16-bit, alpha, EXIF orientation and ICC."""
    folder = tmp_path_factory.mktemp("sources")
    (folder / "nested" / "deeper").mkdir(parents=True)
    deep = (photo_crop(photo, 100, 150, 40, 56).astype(np.uint16) * 257) ^ 0x5A  # low bytes that matter
    save_image(folder / "deep16.png", deep, ImageMeta("PNG", srgb_icc(), None))
    rgba = np.dstack([photo_crop(photo, 200, 300, 48, 40), np.linspace(0, 255, 48 * 40).reshape(48, 40, 1)])
    Image.fromarray(rgba.astype(np.uint8)).save(folder / "alpha.png")
    Image.fromarray(photo_crop(photo, 50, 60, 36, 52)).save(
        folder / "nested" / "turned.jpg", exif=exif_block(6), icc_profile=srgb_icc(), quality=95)
    Image.fromarray(photo_crop(photo, 10, 20, 44, 44)[:, :, 1]).save(folder / "nested" / "deeper" / "gray.png")
    Image.fromarray(photo_crop(photo, 300, 400, 40, 40)).save(folder / "nested" / "plain.tif")
    (folder / ".hidden.png").write_bytes(b"never listed")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def expected(images, tmp_path_factory) -> Path:
    """What single-process `apply` writes for the same images and options."""
    out = tmp_path_factory.mktemp("apply") / "out"
    code, text = invoke("apply", images, "-o", out, "--recursive", *MODEL)
    assert code == 0, text
    return out


def outputs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def assert_same_images(result: Path, reference: Path) -> None:
    assert outputs(result) == outputs(reference)
    for name in outputs(reference):
        got, want = load_image(result / name), load_image(reference / name)
        assert got.pixels.dtype == want.pixels.dtype and got.pixels.shape == want.pixels.shape, name
        assert np.array_equal(got.pixels, want.pixels), name
        assert got.meta == want.meta, name


def failures(path: Path) -> dict[str, str]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["path"]: r["reason"] for r in records}


def test_outputs_equal_apply_pixels_and_metadata(ray_runtime, images, expected, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.chdir(images.parent)  # relative paths, which the workers (elsewhere) must not take as theirs
    code, text = invoke("batch", images.name, "-o", os.path.relpath(out), "--recursive", "--failures",
                        tmp_path / "f.jsonl", *MODEL, *WORKERS)
    assert code == 0, text
    assert_same_images(out, expected)
    assert "Translated 5, skipped 0 already done, 0 failed" in text
    assert (tmp_path / "f.jsonl").read_text() == ""
    deep = load_image(out / "deep16.png")
    assert deep.pixels.dtype == np.uint16 and deep.meta.icc_profile == load_image(images / "deep16.png").meta.icc_profile
    assert load_image(out / "alpha.png").pixels.shape[2] == 4
    turned = load_image(out / "nested" / "turned.jpg")
    assert turned.pixels.shape[:2] == (52, 36)  # upright: the EXIF rotation was applied once
    assert parsed_exif(turned.meta.exif)[ORIENTATION] == 1
    assert turned.meta.icc_profile == load_image(images / "nested" / "turned.jpg").meta.icc_profile is not None


def test_file_uris_take_the_object_store_path_and_report_bad_files(ray_runtime, images, expected, tmp_path):
    source = tmp_path / "mixed"
    for name in outputs(images):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((images / name).read_bytes())
    (source / "broken.jpg").write_bytes((images / "nested" / "turned.jpg").read_bytes()[:300])
    (source / "nested" / "text.png").write_text("not a picture")
    (source / "empty.bmp").write_bytes(b"")
    out = tmp_path / "out"
    report = tmp_path / "failures.jsonl"
    code, text = invoke("batch", source.as_uri(), "-o", out.as_uri(), "--recursive", "--failures", report,
                        *MODEL, *WORKERS)
    assert code == 1
    assert "3 input(s) failed" in text and "Translated 5, skipped 0 already done, 3 failed" in text
    assert_same_images(out, expected)
    reasons = failures(report)
    bad = [f"{source.as_uri()}/{name}" for name in ("broken.jpg", "empty.bmp", "nested/text.png")]
    assert sorted(reasons) == bad
    for path, reason in reasons.items():  # one sentence naming the URI, not the worker's temporary copy
        assert reason.startswith(f"Cannot read {path}: ") and reason.endswith(".") and "\n" not in reason
    assert "truncated" in reasons[bad[0]] and "empty" in reasons[bad[1]] and "not an image" in reasons[bad[2]]
    assert not [p for p in out.rglob(".*")]  # no temporary keys left behind


def test_a_killed_job_resumes_and_writes_each_output_once(ray_runtime, photo, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(10):
        Image.fromarray(photo_crop(photo, 10 * i, 12 * i, 128, 160)).save(source / f"{i:02d}.png")
    out = tmp_path / "out"
    args = ["batch", str(source), "-o", str(out), "--failures", str(tmp_path / "first.jsonl"), *MODEL,
            "--work-size", "full", "--actors", "1", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-m", "cyclegan_fx", *args], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started: dict[int, bytes] = {}
    try:
        deadline = time.monotonic() + 300
        while len(outputs(out) if out.exists() else []) < 3:
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "the first outputs never appeared"
            time.sleep(0.02)
        started = descendants(driver.pid)  # its local Ray runtime and workers
        os.kill(driver.pid, signal.SIGKILL)  # the driver dies at once, mid-job
        driver.wait()
        workers = [pid for pid, command in started.items() if command.startswith(b"ray::Translator")]
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in workers), "a worker outlived its driver"
    finally:
        for pid in started:  # what Ray leaves running once its driver is gone (its node agents)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    before = {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in outputs(out)}
    assert 3 <= len(before) < 10, "the job was not killed midway"
    for name in before:
        load_image(out / name)  # every file under its final name is complete

    code, text = invoke("batch", source, "-o", out, "--failures", tmp_path / "second.jsonl",
                        *MODEL, "--work-size", "full", *WORKERS)
    assert code == 0, text
    assert f"Translated {10 - len(before)}, skipped {len(before)} already done, 0 failed" in text
    assert outputs(out) == [f"{i:02d}.png" for i in range(10)]
    for name, identity in before.items():
        path = out / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, f"{name} was written twice"


def descendants(root: int) -> dict[int, bytes]:
    """Processes below ``root`` (children, grandchildren...) and their command lines."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found.update({pid: commands[pid] for pid in frontier})
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def translator_pids() -> list[int]:
    """The Translator actors of this module's runtime (the raylet is a child of this process)."""
    return [pid for pid, command in descendants(os.getpid()).items() if command.startswith(b"ray::Translator")]


def test_a_killed_worker_is_restarted_and_its_file_retried(ray_runtime, photo, tmp_path):
    from cyclegan_fx.runtime.config import RunOptions
    from cyclegan_fx.scale import BatchJob, run_job

    source = tmp_path / "in"
    source.mkdir()
    for i in range(8):
        Image.fromarray(photo_crop(photo, 12 * i, 10 * i, 128, 160)).save(source / f"{i:02d}.png")
    killed: list[int] = []

    def kill_one_worker(outcome) -> None:
        if not killed:
            pids = translator_pids()
            assert len(pids) == 2
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    job = BatchJob((str(source),), str(tmp_path / "out"), device="cpu", precision="fp32", backend="torch",
                   options=RunOptions(work_size="full"), threads=1, failures=tmp_path / "failures.jsonl")
    summary = run_job(job, on_outcome=kill_one_worker)
    assert killed
    # A file the killed worker had just finished counts as skipped on the retry: written once either way.
    assert summary.failed == 0 and summary.written + summary.skipped == 8 and summary.skipped <= 1
    assert outputs(tmp_path / "out") == [f"{i:02d}.png" for i in range(8)]
