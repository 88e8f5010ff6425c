"""The work folder of a job: closed chunks that an interrupted run resumes from.

It lies beside the output under a hidden name (``video --ray`` can put it elsewhere, or on an object store
through a subclass). ``job.json`` says which job made it (input, model, options); each finished chunk has a
``.json`` record, written last, so a chunk either has its record and everything it names, or counts as not
done. On success the folder is removed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from cyclegan_fx.errors import ConfigError, OutputError
from cyclegan_fx.io.atomic import atomic_output

log = logging.getLogger("cyclegan_fx")

JOB_FILE = "job.json"


@dataclass(frozen=True)
class ChunkRecord:
    """A finished chunk's ``.json``: what resuming after it and joining it need. Unset fields are not written."""

    frames: int
    damage: int  # unreadable packets or files among its frames
    last_key: int  # the medium's key of its last frame: a pts for video, a file position for sequences
    cuts: tuple[int, ...] | None = None  # first pass of --temporal shot: the frames that start a shot
    first_index: int | None = None  # video: its first frame, counted from the first of the job
    first_pts: int | None = None  # video
    last_duration: int | None = None  # video: of its last frame, in the stream's time base
    extradata: str | None = None  # video: the encoder's header (hex) its packets need

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        if self.cuts is not None:
            data["cuts"] = list(self.cuts)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkRecord:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if "cuts" in known:
            known["cuts"] = tuple(known["cuts"])
        return cls(**known)


def work_folder_for(output: Path) -> Path:
    return output.with_name(f".{output.name}.cyclegan-fx-work")


def chunk_indices(kind: str, names: Iterable[str]) -> set[int]:
    """The indices of the finished chunks of ``kind`` among a folder's file names (their records' names)."""
    record = re.compile(rf"{re.escape(kind)}-(\d+)\.json")
    return {int(match[1]) for name in names if (match := record.fullmatch(name))}


class WorkFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        """The folder, for messages."""
        return str(self.path)

    @classmethod
    def prepare(cls, output: Path, job: Mapping[str, Any], resume: bool) -> WorkFolder:
        """The folder for ``job`` beside ``output``: as an interrupted run left it with ``resume``, else emptied."""
        return cls(work_folder_for(output)).start(job, resume)

    def start(self, job: Mapping[str, Any], resume: bool) -> WorkFolder:
        """This folder for ``job``: as an interrupted run left it with ``resume``, else emptied."""
        job = json.loads(json.dumps(job, default=str))  # as it reads back from disk
        if resume and self.exists():
            if self.job() != job:
                raise ConfigError(
                    f"The unfinished work in {self.where} belongs to another job (the input, model or options "
                    "differ); run without --resume to start afresh."
                )
            return self
        if resume:
            log.info("Nothing to resume in %s; starting from the beginning.", self.where)
        elif self.exists():
            log.info("Discarding the unfinished work of an earlier run in %s (--resume continues it).", self.where)
        self.remove()
        self.create(job)
        return self

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self, job: Mapping[str, Any]) -> None:
        """The folder, empty but for ``job``'s description."""
        try:
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the work folder {self.where}: {exc.strerror or exc}.") from exc
        self._write_json(JOB_FILE, job)

    def job(self) -> Any:
        try:
            return json.loads((self.path / JOB_FILE).read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    # --- chunks --------------------------------------------------------------------------

    def file(self, kind: str, index: int, suffix: str) -> Path:
        return self.path / f"{kind}-{index:05d}{suffix}"

    def finished(self, kind: str) -> list[ChunkRecord]:
        """The records of the finished chunks of ``kind``, in order, up to the first missing one."""
        records: list[ChunkRecord] = []
        while (path := self.file(kind, len(records), ".json")).is_file():
            records.append(ChunkRecord.from_json(json.loads(path.read_text())))
        return records

    def is_done(self, kind: str, index: int) -> bool:
        return self.file(kind, index, ".json").is_file()

    def done(self, kind: str) -> set[int]:
        """The indices of every finished chunk of ``kind``, in order or not (chunks made in parallel)."""
        return chunk_indices(kind, (p.name for p in self.path.glob(f"{kind}-*.json")))

    def finish(self, kind: str, index: int, record: ChunkRecord, arrays: Mapping[str, np.ndarray]) -> None:
        """Close a chunk: its arrays, then its record (which marks it finished)."""
        with atomic_output(self.file(kind, index, ".npz"), overwrite=True) as tmp:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)
        self._write_json(self.file(kind, index, ".json").name, record.to_json())

    def arrays(self, kind: str, index: int) -> dict[str, np.ndarray]:
        with np.load(self.file(kind, index, ".npz")) as data:
            return {key: data[key] for key in data.files}

    def note(self, name: str) -> Any:
        """A small record saved with ``write_note``, or None."""
        path = self.path / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_note(self, name: str, data: Mapping[str, Any]) -> None:
        self._write_json(f"{name}.json", data)

    def _write_json(self, name: str, data: Mapping[str, Any]) -> None:
        with atomic_output(self.path / name, overwrite=True) as tmp:
            tmp.write_text(json.dumps(data, indent=1))
