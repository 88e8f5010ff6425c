"""The watch pipeline in process on a real hot folder: who is blamed when translating a file fails."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from watch_helpers import FAST, files_in, photo_bytes, save_tiny_model

from cyclegan_fx.errors import DeviceError
from cyclegan_fx.runners.cache import RunnerCache
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.watch.config import FolderConfig, ModelChoice, WatchConfig
from cyclegan_fx.watch.folder import HotFolder
from cyclegan_fx.watch.owner import Owner
from cyclegan_fx.watch.pipeline import Job, Pipeline


class BrokenRunner:
    """A runner whose device fails, whatever image it is given."""

    def __init__(self, problem: Exception) -> None:
        self.problem = problem

    def run(self, *args):
        raise self.problem


@pytest.fixture
def folder(tmp_path) -> HotFolder:
    model = save_tiny_model(tmp_path / "tiny.pth", seed=0)
    device, precision, backend = FAST[1::2]
    config = FolderConfig(inbox=tmp_path / "inbox", model=ModelChoice(str(model), "a2b", device, precision, backend))
    config.inbox.mkdir()
    hot = HotFolder(config, WatchConfig((config,)), Owner.current())
    hot.check()
    return hot


def translate(folder: HotFolder, runners: RunnerCache, job: Job) -> None:
    """Run one job through a pipeline of its own, to the end."""
    pipeline = Pipeline(runners, 1, threading.Event())
    pipeline.start()
    pipeline.submit(job)
    pipeline.close(put_back=False)
    assert pipeline.join(120)


def take(folder: HotFolder, name: str, data: bytes) -> Job:
    (folder.config.inbox / name).write_bytes(data)
    claim = folder.claims.take(folder.config.inbox / name)
    folder.in_flight.add(claim.id)
    return Job(folder, claim)


@pytest.mark.parametrize("problem", [DeviceError("The CUDA device was lost."),
                                     RuntimeError("CUDA error: an illegal memory access was encountered")],
                         ids=["device-error", "runtime-error"])
def test_a_runner_failure_not_about_the_input_leaves_it_claimed_to_be_tried_again(folder, problem, caplog):
    caplog.set_level(logging.INFO, "cyclegan_fx")
    job = take(folder, "photo.jpg", photo_bytes(1))
    held = folder.claims.held_path(job.claim)
    translate(folder, RunnerCache(open=lambda *args: BrokenRunner(problem)), job)

    assert held.read_bytes() == photo_bytes(1)  # left where it was, untouched
    assert files_in(folder.config.failed_dir) == [] and not (folder.config.outbox / "photo.jpg").exists()
    assert (folder.stats.failed, folder.stats.errors) == (0, 1)
    assert folder.stats.last_error["message"] == str(problem)
    assert f"photo.jpg: {str(problem).rstrip('.')}; it stays claimed and is tried again later." in caplog.text

    [again] = folder.claims.abandoned(folder.in_flight, folder.heartbeats.alive)  # the next scan takes it up
    folder.in_flight.add(again.id)
    translate(folder, RunnerCache(), Job(folder, again))
    assert files_in(folder.config.outbox) == [Path("photo.jpg")]  # its name reserved while claimed, then written
    assert (folder.config.done_dir / "photo.jpg").read_bytes() == photo_bytes(1)
    assert files_in(folder.config.failed_dir) == [] and folder.stats.done == 1


def test_a_runner_failure_about_the_input_fails_it_with_the_reason(folder):
    """The same real runner as above: an image smaller than the network can take is the image's fault."""
    job = take(folder, "sliver.jpg", photo_bytes(2, width=4, height=40))
    translate(folder, RunnerCache(open=open_runner), job)
    assert files_in(folder.config.failed_dir) == [Path("sliver.jpg"), Path("sliver.jpg.error.txt")]
    assert "needs at least 8x8" in (folder.config.failed_dir / "sliver.jpg.error.txt").read_text()
    assert (folder.stats.failed, folder.stats.errors) == (1, 0)
