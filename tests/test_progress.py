"""The shared progress line of `video` and `batch`: counts, rate and ETA, on a clock the test moves."""

from __future__ import annotations

import pytest

from cyclegan_fx.cli import progress as progress_module
from cyclegan_fx.cli.progress import CountProgress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module, "time", fake)
    return fake


def rate_of(progress: CountProgress) -> float:
    return float(progress.status().split(", ")[1].split()[0])


def test_the_rate_of_counted_items_runs_from_the_start_of_the_job(clock):
    progress = CountProgress()
    clock.now += 4.0
    progress.set_total(4)
    progress.advance()
    progress.advance()
    assert rate_of(progress) == pytest.approx(0.5)
    assert progress.status() == "2/4 images, 0.50 images/s, ETA 0:04"


def test_resumed_items_are_shown_but_not_counted_in_the_rate(clock):
    progress = CountProgress("frame", "clip.mp4")
    clock.now += 50.0
    progress.update(100, 200)
    clock.now += 2.0
    progress.update(101, 200)
    assert rate_of(progress) == pytest.approx(0.5)
    assert progress.status() == "clip.mp4: 101/200 frames, 0.50 frames/s, ETA 3:18"
