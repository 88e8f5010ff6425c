"""Progress for long jobs: a bar with ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from cyclegan_fx.runtime.progress import Progress

log = logging.getLogger("cyclegan_fx")


class BatchProgress:
    """Progress over a number of items, each reporting fractions of itself."""

    def __init__(self, total: int, unit: str = "image") -> None:
        self.total = total
        self.unit = unit
        self.done = 0
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, bar_format=_BAR)

    def item(self, name: str) -> Callable[[Progress], None]:
        """A callback for the runner while ``name`` is processed."""
        started = time.monotonic()
        last_logged = [0.0]
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)

        def report(p: Progress) -> None:
            if self.bar is not None:
                self.bar.n = self.done + p.fraction
                self.bar.refresh()
            elif time.monotonic() - started > 10 and p.fraction - last_logged[0] >= 0.25:
                last_logged[0] = p.fraction
                log.info("  %s: %d%% (%d/%d tiles)", name, 100 * p.fraction, p.tiles_done, p.tiles_total)

        return report

    def finished(self, message: str) -> None:
        """One item is done: advance and say what happened."""
        self.done += 1
        if self.bar is not None:
            self.bar.n = self.done
            self.bar.refresh()
            self.bar.write(message, file=sys.stderr)
        else:
            log.info("[%d/%d] %s", self.done, self.total, message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_BAR = "{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}]{postfix}"


class FrameProgress:
    """Frames done of a video job: a bar with frames per second and ETA, or a log line every 10 s."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.first_done: int | None = None  # frames already done when this run started (resumed work)
        self.last_logged = 0.0
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(unit="frame", dynamic_ncols=True, desc=label)

    def __call__(self, done: int, total: int | None) -> None:
        if self.first_done is None:
            self.first_done = done
            self.started = time.monotonic()
            if self.bar is not None:
                self.bar.n = self.bar.initial = done  # resumed work does not count towards the rate
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_logged >= 10 or (total is not None and done == total):
            self.last_logged = now
            log.info("  %s", self.describe(done, total, now - self.started))

    def describe(self, done: int, total: int | None, elapsed: float) -> str:
        fps = (done - (self.first_done or 0)) / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {done}/{total if total else '?'} frames, {fps:.2f} fps"
        if total and fps > 0 and done < total:
            text += f", ETA {_duration((total - done) / fps)}"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
