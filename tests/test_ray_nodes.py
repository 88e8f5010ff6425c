"""A simulated multi-node Ray cluster on this machine (ray.cluster_utils.Cluster: a CPU-less head and three
one-CPU worker nodes, each a raylet of its own): a node holding a worker is removed in the middle of a
`batch` job and of a `video --ray` job, and each job still finishes with every output written once and
complete; a `video --ray` driver stopped with SIGTERM is re-run with --resume and does only the rest."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clips import Clip, pan, psnr, read_clip, write_clip
from helpers import invoke
from PIL import Image
from test_ray_batch import descendants, outputs, photo_crop

from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.runtime.config import RunOptions

pytestmark = pytest.mark.heavy  # several raylets and actors: the quick tier deselects it (-m "not heavy")

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
cluster_utils = pytest.importorskip("ray.cluster_utils")

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ["--device", "cpu", "--backend", "torch", "--work-size", "64", "--codec", "ffv1", "--chunk", "8",
         "--temporal", "off"]
# A lost node is declared dead after 5 s: long enough for Ray's own retries of its tasks to run out first, as
# they do with the default checks (a real node is declared dead after 15 s or more), short enough for a test.
HEALTH_CHECKS = {"health_check_period_ms": 500, "health_check_failure_threshold": 10}


@pytest.fixture(scope="module")
def cluster():
    """Head without CPUs (so no worker runs beside the driver), three worker nodes of one CPU each."""
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "_system_config": HEALTH_CHECKS})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(3)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def remove_a_node_with(cluster, nodes: list, actor_class: str) -> None:
    """Remove (kill every process of) a node that runs an actor of ``actor_class``; add a fresh empty node so
    the next test again has three."""
    prefix = f"ray::{actor_class}".encode()
    for node in list(nodes):
        raylet = node.all_processes["raylet"][0].process.pid
        if any(command.startswith(prefix) for command in descendants(raylet).values()):
            cluster.remove_node(node, allow_graceful=False)
            nodes.remove(node)
            nodes.append(cluster.add_node(num_cpus=1))
            return
    raise AssertionError(f"no node runs a {actor_class}")


def test_batch_finishes_when_a_node_is_lost(cluster, photo, tmp_path):
    from cyclegan_fx.scale import BatchJob, run_job

    source = tmp_path / "in"
    source.mkdir()
    for i in range(8):
        Image.fromarray(photo_crop(photo, 12 * i, 10 * i, 128, 160)).save(source / f"{i:02d}.png")
    out = tmp_path / "out"
    written: dict[str, tuple[int, int]] = {}

    def on_outcome(outcome) -> None:
        if outcome.status == "written":
            info = Path(outcome.output).stat()
            written[Path(outcome.output).name] = (info.st_ino, info.st_mtime_ns)
        if len(written) == 1 and outcome.status == "written":
            remove_a_node_with(*cluster, "Translator")

    job = BatchJob((str(source),), str(out), device="cpu", precision="fp32", backend="torch",
                   options=RunOptions(work_size="full"), actors=2, threads=1, failures=tmp_path / "failures.jsonl")
    summary = run_job(job, on_outcome=on_outcome)
    assert summary.failed == 0 and summary.written + summary.skipped == 8
    assert outputs(out) == [f"{i:02d}.png" for i in range(8)]
    for name in outputs(out):
        assert load_image(out / name).pixels.shape[:2] == (128, 160)  # complete
        if name in written:  # never rewritten by a retry after the worker that wrote it reported it
            assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) == written[name], name


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 40-frame clip with sound, and what the single-process command makes of it."""
    folder = tmp_path_factory.mktemp("clip")
    path = write_clip(folder / "pan.mkv", Clip(pan("coffee", 40, step=(1, 2))))
    code, text = invoke("video", path, "-o", folder / "single.mkv", *VIDEO)
    assert code == 0, text
    return path, folder / "single.mkv"


def assert_same_video(result: Path, reference: Path) -> None:
    got, want = read_clip(result), read_clip(reference)
    assert len(got.frames) == len(want.frames) == 40
    assert got.pts == want.pts and got.audio == want.audio and got.audio
    assert all(np.array_equal(a, b) for a, b in zip(got.frames, want.frames)), \
        min(psnr(a, b) for a, b in zip(got.frames, want.frames))


def test_video_finishes_when_a_node_is_lost(cluster, clip, tmp_path):
    from cyclegan_fx.scale.video_job import RayPlacement, translate_video_on_ray
    from cyclegan_fx.video import EncodeSettings, Temporal, TemporalSettings, VideoOptions

    path, single = clip
    target = tmp_path / "ray.mkv"
    work = tmp_path / ".ray.mkv.cyclegan-fx-work"
    chunks: dict[str, tuple[int, int]] = {}
    removed: list[bool] = []

    def progress(done: int, total: int | None) -> None:
        for record in work.glob("video-*.json"):
            packets = record.with_suffix(".packets")
            chunks.setdefault(packets.name, (packets.stat().st_ino, packets.stat().st_mtime_ns))
        if done >= 8 and not removed:
            remove_a_node_with(*cluster, "ChunkTranslator")
            removed.append(True)
        for name, identity in chunks.items():  # a finished chunk is never redone by a retried task
            packets = work / name
            assert (packets.stat().st_ino, packets.stat().st_mtime_ns) == identity, name

    options = VideoOptions(TemporalSettings(Temporal.OFF), EncodeSettings("ffv1"), chunk_frames=8)
    report = translate_video_on_ray(path, "vintage", "a2b", "cpu", "auto", "torch", RunOptions(work_size=64),
                                    options, RayPlacement(actors=2, threads=1), target, progress)
    assert removed and report.frames == 40 and not work.exists()
    assert_same_video(target, single)


def test_a_video_driver_stopped_with_sigterm_resumes(cluster, clip, tmp_path):
    path, single = clip
    target = tmp_path / "ray.mkv"
    work = tmp_path / ".ray.mkv.cyclegan-fx-work"
    command = [sys.executable, "-m", "cyclegan_fx", "video", str(path), "-o", str(target), *VIDEO, "--ray",
               "--address", cluster[0].address, "--actors", "2", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(work.glob("video-*.json")):
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.monotonic() < deadline, "no chunk was ever finished"
        time.sleep(0.05)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=60) != 0
    finished = len(list(work.glob("video-*.json")))
    assert 1 <= finished < 5 and not target.exists()

    result = subprocess.run([*command, "--resume"], check=False, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"Translating {5 - finished} of 5 chunk(s)." in result.stderr
    assert not work.exists()
    assert_same_video(target, single)
