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


class CountProgress:
    """Items done of a long job whose total may be known only later: a bar with rate and ETA on a terminal,
    a status line every ``every`` seconds otherwise. Items already done when the job started (resumed work)
    are shown but do not count towards the rate."""

    def __init__(self, unit: str = "image", label: str = "", every: float = 30.0) -> None:
        self.unit, self.label, self.every = unit, label, every
        self.total: int | None = None  # may be set from another thread
        self.done = 0
        self.first: int | None = None  # items done when this run started
        self.started = time.monotonic()
        self.last_line = 0.0  # the first report is shown at once (where a resumed job starts)
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(unit=unit, desc=label or None, dynamic_ncols=True, smoothing=0.05)

    def set_total(self, total: int | None) -> None:
        self.total = total

    def update(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` items (None: not known yet); the first call gives the resumed count."""
        self.total = total
        self._begin(done)
        self.done = done
        self._show(None)

    def advance(self, message: str | None = None) -> None:
        """One item is done; ``message``, if any, is shown above the bar or logged as a warning.

        The rate counts from this object's creation: the first item's own time is part of it."""
        if self.first is None:
            self.first = 0
        self.done += 1
        self._show(message)

    def status(self) -> str:
        """'clip.mp4: 120/4000 frames, 2.41 frames/s, ETA 26:50' (total and ETA once the total is known)."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - (self.first or 0)) / elapsed
        line = f"{self.label + ': ' if self.label else ''}{self.done}{'' if self.total is None else f'/{self.total}'} "
        line += f"{self.unit}s, {rate:.2f} {self.unit}s/s"
        if self.total is not None and rate > 0 and self.done < self.total:
            line += f", ETA {_duration((self.total - self.done) / rate)}"
        return line

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _begin(self, done: int) -> None:
        if self.first is None:
            self.first = done
            self.started = time.monotonic()
            if self.bar is not None:
                self.bar.n = self.bar.initial = done

    def _show(self, message: str | None) -> None:
        if self.bar is not None:
            if self.bar.total != self.total:
                self.bar.total = self.total
            self.bar.update(self.done - self.bar.n)
            if message:
                self.bar.write(message, file=sys.stderr)
            return
        if message:
            log.warning("%s", message)
        now = time.monotonic()
        if now - self.last_line >= self.every or self.done == self.total:
            self.last_line = now
            log.info("  %s", self.status())


class ByteProgress:
    """Bytes of one download: a bar with size, rate and ETA on a terminal, a status line every ``every``
    seconds otherwise. Bytes present when it started (a resumed download) do not count towards the rate."""

    def __init__(self, label: str, every: float = 10.0) -> None:
        self.label, self.every = label, every
        self.first: int | None = None  # bytes present at the first report
        self.started = self.last_line = time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(desc=label, unit="B", unit_scale=True, dynamic_ncols=True)

    def update(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` bytes (None: the server did not say)."""
        if self.first is None:
            self.first, self.started = done, time.monotonic()
            if self.bar is not None:
                self.bar.n = self.bar.initial = done
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_line >= self.every or done == total:
            self.last_line = now
            log.info("  %s", self.status(done, total))

    def status(self, done: int, total: int | None) -> str:
        """'horse2zebra.pth: 4.1/11.4 MB, 1.20 MB/s, ETA 0:06' (size and ETA where the total is known)."""
        rate = (done - (self.first or 0)) / max(time.monotonic() - self.started, 1e-9)
        line = f"{self.label}: {done / 1e6:.1f}{'' if total is None else f'/{total / 1e6:.1f}'} MB, {rate / 1e6:.2f} MB/s"
        if total is not None and rate > 0 and done < total:
            line += f", ETA {_duration((total - done) / rate)}"
        return line

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
