"""Claiming an input by an atomic rename, and each later step of its life, every one safe to repeat after a crash.

An input INBOX/a/x.jpg is taken in these steps:

1. a record ``processing/<claim id>.json`` names the source and the output number the daemon means to use;
2. the file is renamed to ``processing/<claim id>.jpg``: of several daemons, only one rename succeeds;
3. a lock ``OUTBOX/a/.x.jpg.cyclegan-fx-lock`` holding the claim's token reserves the output name
   (created with O_EXCL, so one creator wins); a later input of the same name gets ``x-1.jpg``;
4. the translation is written under a temporary name and renamed (``atomic_output``);
5. the original moves to ``done/a/x.jpg`` (or ``failed/a/x.jpg`` beside ``x.jpg.error.txt``);
6. the lock, then the record, are removed.

A daemon that finds a record whose owner is gone takes it over by renaming the record (one rename
wins) and resumes from what the files show. An output under the claim's own lock can only have been
written by the claim, and outputs appear complete or not at all, so it is recognised and never
written twice.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Container
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from cyclegan_fx.errors import CycleganFxError
from cyclegan_fx.io.atomic import atomic_output, leftover_temporaries
from cyclegan_fx.watch.config import FolderConfig
from cyclegan_fx.watch.files import move_no_replace, read_record, write_record
from cyclegan_fx.watch.names import error_file_name, numbered, output_suffix
from cyclegan_fx.watch.owner import Owner

log = logging.getLogger("cyclegan_fx")

RECORD_FORMAT = "cyclegan-fx-claim"
LOCK_ENDING = ".cyclegan-fx-lock"
PROCESSING = "processing"


@dataclass(frozen=True)
class Claim:
    id: str  # the record's name; a daemon that takes the claim over renames the record
    token: str  # the first id, kept for life: the lock on the output name holds it
    source: PurePosixPath  # where the input was, below INBOX
    held: str  # the original's file name in processing/ while it is claimed
    number: int  # 0: the input's own name; n: name-n, because the name was taken
    output: PurePosixPath  # below OUTBOX
    done: PurePosixPath  # below the done folder
    failed: PurePosixPath | None = None  # below the failed folder, once the input is known to be bad
    reason: str | None = None  # why it failed, one sentence

    def to_json(self) -> dict[str, Any]:
        paths = ("source", "output", "done", "failed")
        values = {k: (str(v) if k in paths and v is not None else v) for k, v in self.__dict__.items() if k != "id"}
        return {"format": RECORD_FORMAT, "version": 1, **values}

    @classmethod
    def from_json(cls, claim_id: str, data: dict[str, Any]) -> Claim:
        if data.get("format") != RECORD_FORMAT:
            raise ValueError("not a claim record")
        failed = data.get("failed")
        return cls(
            claim_id, data["token"], PurePosixPath(data["source"]), data["held"], int(data["number"]),
            PurePosixPath(data["output"]), PurePosixPath(data["done"]),
            PurePosixPath(failed) if failed else None, data.get("reason"),
        )


class Claims:
    """The claims of one hot folder, held by one daemon process."""

    def __init__(self, config: FolderConfig, owner: Owner) -> None:
        self.config = config
        self.owner = owner
        self.processing = config.work_dir / PROCESSING
        self._sequence = itertools.count(1)
        self._reported_damaged: set[str] = set()

    def held_path(self, claim: Claim) -> Path:
        return self.processing / claim.held

    def output_path(self, claim: Claim) -> Path:
        return self.config.outbox / claim.output

    def output_written(self, claim: Claim) -> bool:
        """The output exists: written under this claim's lock, and outputs only ever appear complete."""
        return os.path.lexists(self.output_path(claim))

    # --- taking an input -----------------------------------------------------------------------

    def take(self, path: Path) -> Claim | None:
        """Claim the input at ``path``; None when another daemon took it first or it is gone."""
        source = PurePosixPath(path.relative_to(self.config.inbox).as_posix())
        claim_id = self._new_id()
        suffix = output_suffix(source, self.config.format)
        first = Claim(claim_id, claim_id, source, claim_id + path.suffix, 0, numbered(source, 0, suffix), source)
        claim = self._numbered(first, self._free_number(first, 0), suffix)
        self._write(claim)
        try:
            os.rename(path, self.held_path(claim))
        except OSError:
            self.record_path(claim).unlink(missing_ok=True)
            if not path.exists():
                return None
            raise
        return self._reserve(claim, resumed=False)

    def _reserve(self, claim: Claim, resumed: bool) -> Claim:
        """Lock the claim's output name, moving to the next free number while another claim has it."""
        while True:
            lock = self.lock_path(claim)
            if resumed and self._holds(lock, claim.token, allow_empty=True):
                if lock.stat().st_size == 0:
                    lock.write_text(claim.token)
                return claim
            if self._create_lock(lock, claim.token):
                if not self._taken(claim):
                    return claim
                lock.unlink()
            claim = self._numbered(claim, self._free_number(claim, claim.number + 1), claim.output.suffix)
            self._write(claim)

    def _free_number(self, claim: Claim, start: int) -> int:
        """The first number from ``start`` at which no output, original or lock of this name exists."""
        for number in itertools.count(start):
            candidate = self._numbered(claim, number, claim.output.suffix)
            if not (self._taken(candidate) or os.path.lexists(self.lock_path(candidate))):
                return number
        raise AssertionError("unreachable")

    def _numbered(self, claim: Claim, number: int, suffix: str) -> Claim:
        output, done = numbered(claim.source, number, suffix), numbered(claim.source, number)
        return replace(claim, number=number, output=output, done=done)

    def _taken(self, claim: Claim) -> bool:
        return os.path.lexists(self.output_path(claim)) or os.path.lexists(self.config.done_dir / claim.done)

    def lock_path(self, claim: Claim) -> Path:
        output = self.output_path(claim)
        return output.with_name(f".{output.name}{LOCK_ENDING}")

    @staticmethod
    def _create_lock(lock: Path, token: str) -> bool:
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, token.encode())
        finally:
            os.close(fd)
        return True

    @staticmethod
    def _holds(lock: Path, token: str, allow_empty: bool = False) -> bool:
        """Whether ``lock`` is this claim's. Empty, it was created by a claim that died before writing its
        token into it; when resuming, only the claim whose record names this lock can have done that."""
        try:
            content = lock.read_text()
        except FileNotFoundError:
            return False
        return content == token or (allow_empty and content == "")

    # --- the end of a claim ----------------------------------------------------------------------

    def finish(self, claim: Claim) -> Path:
        """The output is written: move the original to done/ and let the claim go; return where it went."""
        target = self.config.done_dir / claim.done
        while True:
            try:
                move_no_replace(self.held_path(claim), target)
                break
            except FileExistsError:  # someone put a file there by hand: keep both
                target = _unused(target)
        self.release(claim)
        return target

    def fail(self, claim: Claim, reason: str) -> Path:
        """Move the original to failed/ with NAME.error.txt holding ``reason``; return where it went."""
        if claim.failed is None:
            claim = replace(claim, failed=self._failed_name(claim, claim.number), reason=reason)
            self._write(claim)
        while True:
            target = self.config.failed_dir / claim.failed
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(target.with_name(error_file_name(target.name)), overwrite=True) as tmp:
                tmp.write_text(f"{claim.reason}\n", encoding="utf-8")
            try:
                move_no_replace(self.held_path(claim), target)
                break
            except FileExistsError:  # another daemon failed a file of the same name at the same moment
                claim = replace(claim, failed=self._failed_name(claim, claim.number + 1))
                self._write(claim)
        self.release(claim)
        return target

    def _failed_name(self, claim: Claim, start: int) -> PurePosixPath:
        for number in itertools.count(start):
            name = numbered(claim.source, number)
            target = self.config.failed_dir / name
            if not (os.path.lexists(target) or os.path.lexists(target.with_name(error_file_name(target.name)))):
                return name
        raise AssertionError("unreachable")

    def put_back(self, claim: Claim) -> bool:
        """Return the original to the inbox untouched (on a stop); False if a new file has its name now."""
        try:
            move_no_replace(self.held_path(claim), self.config.inbox / claim.source)
        except FileExistsError:
            return False
        self.release(claim)
        return True

    def release(self, claim: Claim) -> None:
        """Drop the lock on the output name, then the record: the claim is over."""
        lock = self.lock_path(claim)
        if self._holds(lock, claim.token):
            lock.unlink(missing_ok=True)
        self.record_path(claim).unlink(missing_ok=True)

    # --- claims whose owner stopped ----------------------------------------------------------------

    def abandoned(self, in_flight: Container[str], alive: Callable[[Owner], bool]) -> list[Claim]:
        """Claims to work on again: this daemon's own that nothing works on, and those whose owner is gone.

        Claims that turn out to be finished already (the owner died after the last step that matters)
        are completed here and not returned.
        """
        resumed = []
        for record in self._records(alive):
            claim_id = record.name.removesuffix(".json")
            owner = Owner.parse(claim_id)
            if claim_id in in_flight or owner is not None and owner != self.owner and alive(owner):
                continue
            try:
                if owner != self.owner and (claim_id := self._take_over(record)) is None:
                    continue
                claim = self._read(claim_id)
                if claim is not None and (claim := self._resume(claim)) is not None:
                    resumed.append(claim)
            except (OSError, CycleganFxError) as exc:  # its folders cannot be written now; the others may be fine
                log.error("Cannot take up claim %s again: %s; trying again later.", claim_id, exc)
        return resumed

    def _records(self, alive: Callable[[Owner], bool]) -> list[Path]:
        """Claim records, after deleting the half-written copies that stopped daemons left."""
        try:
            entries = sorted(self.processing.iterdir())
        except FileNotFoundError:
            return []
        for entry in entries:
            owner = Owner.parse(entry.name[1:])
            if entry.name.startswith(".") and entry.name.endswith(".part") and owner != self.owner:
                if owner is None or not alive(owner):
                    entry.unlink(missing_ok=True)
        return [e for e in entries if e.suffix == ".json" and not e.name.startswith(".")]

    def _take_over(self, record: Path) -> str | None:
        """Rename a dead owner's record to a claim id of ours; None if another daemon was first."""
        claim_id = self._new_id()
        try:
            os.rename(record, self.processing / f"{claim_id}.json")
        except FileNotFoundError:
            return None
        return claim_id

    def _read(self, claim_id: str) -> Claim | None:
        path = self.processing / f"{claim_id}.json"
        try:
            return Claim.from_json(claim_id, read_record(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if claim_id not in self._reported_damaged:
                self._reported_damaged.add(claim_id)
                log.warning("Claim record %s is damaged (%s); leaving it for a person to look at.", path, exc)
            return None

    def _resume(self, claim: Claim) -> Claim | None:
        """Bring an interrupted claim to a state the pipeline can go on from; None if nothing is left to do."""
        self._clear_leftovers(claim)
        if not self.held_path(claim).exists():  # never left the inbox, put back, or moved on just before
            self.release(claim)
            return None
        # A move to done/ or failed/ cut short between its link and unlink is completed by doing it again.
        return claim if claim.reason is not None else self._reserve(claim, resumed=True)

    def _clear_leftovers(self, claim: Claim) -> None:
        """Temporary files an interrupted write of this claim's output, original or error file left."""
        paths = [self.output_path(claim), self.config.done_dir / claim.done]
        if claim.failed is not None:
            failed = self.config.failed_dir / claim.failed
            paths += [failed, failed.with_name(error_file_name(failed.name))]
        for path in paths:
            for leftover in leftover_temporaries(path):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    # --- records -----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self.owner.id}_{next(self._sequence)}"

    def record_path(self, claim: Claim) -> Path:
        return self.processing / f"{claim.id}.json"

    def _write(self, claim: Claim) -> None:
        write_record(self.record_path(claim), claim.to_json())


def _unused(path: Path) -> Path:
    """``path`` with the first ``-N`` suffix under which nothing exists."""
    for number in itertools.count(1):
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
    raise AssertionError("unreachable")
