"""One hot folder: noticing files, waiting for them to settle, claiming them, and settling each one's fate."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from pathlib import Path

from cyclegan_fx.errors import ConfigError, CycleganFxError
from cyclegan_fx.io.folders import writable_folder
from cyclegan_fx.watch.claims import PROCESSING, Claim, Claims
from cyclegan_fx.watch.config import FolderConfig, WatchConfig
from cyclegan_fx.watch.inbox import InboxWatcher
from cyclegan_fx.watch.logs import fields
from cyclegan_fx.watch.owner import Owner
from cyclegan_fx.watch.pipeline import Job
from cyclegan_fx.watch.settle import SettleTracker
from cyclegan_fx.watch.status import FolderStats, Heartbeats, now_iso

log = logging.getLogger("cyclegan_fx")


class HotFolder:
    def __init__(self, config: FolderConfig, watch: WatchConfig, owner: Owner) -> None:
        self.config = config
        self.watch = watch
        self.owner = owner
        self.claims = Claims(config, owner)
        self.heartbeats = Heartbeats(config.work_dir, owner, watch.stale_after)
        self.tracker = SettleTracker(config.settle, trust_ctime=watch.poll is None)
        self.watcher = InboxWatcher(config, watch.poll)
        self.stats = FolderStats()
        self.in_flight: set[str] = set()  # claim ids in the pipeline; sets are safe to share between threads
        self.resumed: deque[Claim] = deque()
        self.present = True
        self.started = now_iso()
        self._next_scan = 0.0
        self._next_status = 0.0
        self._status_failing = False

    # --- start and stop -------------------------------------------------------------------------------

    def check(self) -> None:
        """Start-up checks: one sentence and no watching if the folders cannot be used."""
        inbox = self.config.inbox
        if not inbox.is_dir():
            raise ConfigError(f"Inbox {inbox} {'is not a folder' if inbox.exists() else 'does not exist'}.")
        if not os.access(inbox, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigError(f"Cannot use inbox {inbox}: this user may not read it or move files out of it.")
        for name, folder in self._folders():
            if folder.resolve() == inbox.resolve():
                raise ConfigError(f"The {name} folder must not be the inbox itself ({inbox}).")
        self._make_folders()

    def _folders(self) -> list[tuple[str, Path]]:
        config = self.config
        return [("output", config.outbox), ("done", config.done_dir), ("failed", config.failed_dir),
                ("work", config.work_dir / PROCESSING), ("work", self.heartbeats.folder)]

    def _make_folders(self) -> None:
        for name, folder in self._folders():
            writable_folder(folder, name)

    def start(self, observe: bool) -> None:
        """Announce this daemon (its status file), take back abandoned claims, scan, and watch for events."""
        self._write_status("watching")
        if observe:
            self.watcher.start()  # before the first scan, so that nothing arriving meanwhile is missed
        self._scan_and_recover()
        self._next_scan = time.monotonic() + self.watch.rescan if observe else float("inf")
        log.info("Watching %s: outputs to %s, originals to %s, failures to %s (model %s, %s).",
                 self.config.inbox, self.config.outbox, self.config.done_dir, self.config.failed_dir,
                 self.config.model.model, self.config.model.direction,
                 extra=fields(event="start", inbox=str(self.config.inbox), status=str(self.status_path)))

    def stop(self) -> None:
        self.watcher.stop()
        self._write_status("stopped")

    @property
    def status_path(self) -> Path:
        return self.heartbeats.path(self.owner)

    # --- the main loop's work -------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Notice what changed since the last tick; runs on the main thread only."""
        if not self._inbox_present():
            return
        if now >= self._next_status:
            self._next_status = now + self.watch.status_every
            self._write_status("watching")
        hinted, folder_arrived = self.watcher.hinted()
        if now >= self._next_scan or folder_arrived:
            self._next_scan = now + self.watch.rescan
            self._scan_and_recover()
        for path in hinted:
            self.tracker.add(path)
        self.tracker.update(now)

    def next_job(self, now: float) -> Job | None:
        """A claimed input for the pipeline: re-taken claims first, then the oldest settled file."""
        if not self.present:
            return None
        if self.resumed:
            return Job(self, self.resumed.popleft())
        while (path := self.tracker.next_ready(now)) is not None:
            try:
                claim = self.claims.take(path)
            except (OSError, CycleganFxError) as exc:  # the next scan tries again
                self.stats.error(str(path), str(exc))
                log.error("Cannot take %s: %s; trying again later.", path, exc)
                continue
            if claim is not None:
                self.in_flight.add(claim.id)
                return Job(self, claim)
        return None

    def idle(self) -> bool:
        return not (self.resumed or len(self.tracker) or self.in_flight)

    def _inbox_present(self) -> bool:
        """Notice the inbox vanishing (an unmounted share) and coming back; whether it is there now."""
        there = self.config.inbox.is_dir()
        if there and not self.present:
            try:
                self._make_folders()
            except CycleganFxError as exc:
                log.debug("Inbox back but not usable yet: %s", exc)
                return False
            log.info("Inbox %s is back; resuming.", self.config.inbox, extra=fields(event="inbox-back"))
            self.present = True
            self.watcher.start()
            self._next_scan = 0.0
        elif not there and self.present:
            log.warning("Inbox %s is gone (unmounted or removed?); waiting for it to come back.", self.config.inbox,
                        extra=fields(event="inbox-gone"))
            self.present = False
            self.watcher.stop()
        return there

    def _scan_and_recover(self) -> None:
        try:
            self.heartbeats.sweep()
            for claim in self.claims.abandoned(self.in_flight, self.heartbeats.alive):
                self.in_flight.add(claim.id)
                self.resumed.append(claim)
                log.info("Taking up %s again (claimed before, not finished).", claim.source,
                         extra=fields(event="resumed", file=str(claim.source)))
        except OSError as exc:
            log.warning("Cannot look for abandoned claims in %s: %s.", self.claims.processing, exc)
        for path in self.watcher.scan():
            self.tracker.add(path)

    def _write_status(self, state: str) -> None:
        status = {
            "inbox": str(self.config.inbox),
            "outbox": str(self.config.outbox),
            "owner": self.owner.id,
            "host": self.owner.host,
            "pid": self.owner.pid,
            "model": self.config.model.model,
            "direction": self.config.model.direction,
            "state": state if self.present else "waiting for the inbox",
            "started": self.started,
            "updated": now_iso(),
            "queue": len(self.tracker) + len(self.resumed),
            "in_progress": len(self.in_flight),
            "done": self.stats.done,
            "failed": self.stats.failed,
            "images_per_minute": round(self.stats.images_per_minute(), 2),
            "last_error": self.stats.last_error,
        }
        try:
            self.heartbeats.beat(status)
            self._status_failing = False
        except (OSError, CycleganFxError) as exc:
            if not self._status_failing and self.present:
                log.warning("Cannot write the status file %s: %s.", self.status_path, exc)
            self._status_failing = True

    # --- each job's fate (called from the pipeline's threads) -------------------------------------------

    def complete(self, job: Job) -> None:
        where = self.claims.finish(job.claim)
        self.in_flight.discard(job.claim.id)
        self.stats.finished()
        output = self.claims.output_path(job.claim)
        width, height = job.size
        size = f"{width}x{height}" if width else "already written"
        log.info("%s %s %.2f s -> %s", job.claim.source, size, job.seconds, self._shown(output),
                 extra=fields(event="done", inbox=str(self.config.inbox), file=str(job.claim.source), width=width,
                              height=height, seconds=round(job.seconds, 3), output=str(output), original=str(where)))

    def reject(self, job: Job) -> None:
        where = self.claims.fail(job.claim, job.reason)
        self.in_flight.discard(job.claim.id)
        self.stats.failed_file(str(job.claim.source), job.reason)
        log.warning("%s FAILED -> %s: %s", job.claim.source, self._shown(where), job.reason,
                    extra=fields(event="failed", inbox=str(self.config.inbox), file=str(job.claim.source),
                                 reason=job.reason, original=str(where)))

    def set_aside(self, job: Job, problem: BaseException) -> None:
        """Leave the claim as it is and try it again after the next scan."""
        self.in_flight.discard(job.claim.id)
        message = str(problem) or type(problem).__name__
        self.stats.error(str(job.claim.source), message)
        log.error("%s: %s; it stays claimed and is tried again later.", job.claim.source, message.rstrip("."),
                  extra=fields(event="error", inbox=str(self.config.inbox), file=str(job.claim.source), reason=message))

    def put_back(self, job: Job) -> None:
        """A job not started when the daemon stops: its original goes back to the inbox."""
        try:
            returned = self.claims.put_back(job.claim)
        except OSError as exc:
            log.debug("Cannot put %s back: %s", job.claim.source, exc)
            returned = False
        self.in_flight.discard(job.claim.id)
        if returned:
            log.info("%s put back into the inbox.", job.claim.source)
        else:
            log.info("%s stays claimed; it is taken up again at the next start.", job.claim.source)

    def _shown(self, path: Path) -> Path:
        """A path below the inbox relative to it (out/x.jpg), others as they are."""
        try:
            return path.relative_to(self.config.inbox)
        except ValueError:
            return path
