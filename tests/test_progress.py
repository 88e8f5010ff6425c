"""The shared progress line of `video` and `batch`: counts, rate and ETA."""

from __future__ import annotations

import time

from cyclegan_fx.cli.progress import CountProgress


def test_the_rate_of_counted_items_runs_from_the_start_of_the_job():
    progress = CountProgress()
    time.sleep(0.5)
    progress.set_total(4)
    progress.advance()
    progress.advance()
    rate = float(progress.status().split(", ")[1].split()[0])
    assert 2 / 5 < rate <= 2 / 0.5
    assert progress.status().startswith("2/4 images") and "ETA" in progress.status()


def test_resumed_items_are_shown_but_not_counted_in_the_rate():
    progress = CountProgress("frame", "clip.mp4")
    progress.update(100, 200)
    time.sleep(0.5)
    progress.update(101, 200)
    rate = float(progress.status().split(", ")[1].split()[0])
    assert progress.status().startswith("clip.mp4: 101/200 frames") and 0 < rate <= 1 / 0.5
