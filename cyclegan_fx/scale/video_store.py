"""Where ``video --ray`` keeps its output and its work folder: local paths every node sees, or an object store
through the filesystem layer of ``batch`` (storage.py).

On an object store nothing is renamed into place, so a chunk is published file by file, each one a complete
object (uploaded under a temporary key, then moved), its record last: a chunk whose record exists is complete,
as in a local work folder. The driver lists the records to know what is done and downloads the finished
chunks to join them; the output is written locally and uploaded once complete.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from cyclegan_fx.errors import OutputError, StorageError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.scale.storage import (
    Location,
    download,
    file_names,
    locate,
    make_folder,
    os_reason,
    prepare_destination,
    read_bytes,
    remove_tree,
    upload,
)
from cyclegan_fx.video.outputs import Place
from cyclegan_fx.video.work import JOB_FILE, ChunkRecord, WorkFolder, chunk_indices, work_folder_for

log = logging.getLogger("cyclegan_fx")

_CHUNK_FILES = (".packets", ".npz", ".json")  # in the order they are published: the record, which marks it done, last


class StoredWork(WorkFolder):
    """A work folder on a pyarrow filesystem. ``path`` is a local folder for what this process writes (a worker:
    the chunk it translates) or reads (the driver: the finished chunks, to join them)."""

    def __init__(self, location: Location, local: Path) -> None:
        super().__init__(local)
        self.location = location

    @property
    def where(self) -> str:
        return self.location.text

    def exists(self) -> bool:
        return self.location.kind() == "folder"

    def create(self, job: Mapping[str, Any]) -> None:
        try:
            make_folder(self.location)
        except OSError as exc:
            raise OutputError(f"Cannot create the work folder {self.where}: {os_reason(exc)}.") from exc
        super().create(job)
        upload(self.path / JOB_FILE, self.location.child(JOB_FILE))

    def job(self) -> Any:
        try:
            return json.loads(read_bytes(self.location.child(JOB_FILE)))
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        try:
            remove_tree(self.location)
        except OSError as exc:  # the job's outcome stands; only the clean-up is left to the user
            log.warning("Cannot remove the work folder %s (%s); delete it by hand.", self.where, os_reason(exc))
        super().remove()

    def is_done(self, kind: str, index: int) -> bool:
        return self.location.child(self.file(kind, index, ".json").name).exists()

    def done(self, kind: str) -> set[int]:
        return chunk_indices(kind, self._stored(file_names, self.location))

    def finished(self, kind: str) -> list[ChunkRecord]:
        """As in a local folder; the chunks' files are downloaded to ``path`` on the way, for reading them there."""
        names = self._stored(file_names, self.location)
        self.path.mkdir(parents=True, exist_ok=True)  # a resumed folder: only made on the store
        for index in itertools.count():
            if self.file(kind, index, ".json").name not in names:
                break
            for suffix in _CHUNK_FILES:
                local = self.file(kind, index, suffix)
                if local.name in names and not local.exists():
                    self._stored(download, self.location.child(local.name), local)
        return super().finished(kind)

    def finish(self, kind: str, index: int, record: ChunkRecord, arrays: Mapping[str, np.ndarray]) -> None:
        """Close a chunk here, then publish its files, the record last."""
        super().finish(kind, index, record, arrays)
        for suffix in _CHUNK_FILES:
            local = self.file(kind, index, suffix)
            if local.exists():
                upload(local, self.location.child(local.name))

    def _stored(self, action, *args):
        """``action`` on the store; what goes wrong there is one sentence that keeps the finished work."""
        try:
            return action(*args)
        except OSError as exc:
            raise StorageError(f"Cannot use the work folder {self.where}: {os_reason(exc)}.") from exc


@contextlib.contextmanager
def chunk_folder(location: Location) -> Iterator[WorkFolder]:
    """The work folder a worker writes a chunk into: the shared folder itself, or a local one that publishes
    each chunk to the object store as it is finished."""
    if location.is_local:
        yield WorkFolder(Path(location.path))
        return
    with tempfile.TemporaryDirectory(prefix="cyclegan-fx-") as local:
        yield StoredWork(location, Path(local))


def work_location(target: Location, work: str | None) -> Location:
    """The work folder of the output ``target``: beside it, or in the folder ``work``."""
    hidden = work_folder_for(Path(target.name)).name
    return locate(work).child(hidden) if work else target.parent().child(hidden)


class RayPlace(Place):
    """The output ``target`` and the work folder ``work``, each a local path or on an object store; what lives on
    an object store is staged in the local folder ``staging``. ``clip``: the input, read from ``local_clip``."""

    def __init__(self, target: Location, work: Location, staging: Path, clip: Location, local_clip: Path) -> None:
        self.target, self.work, self.staging, self.clip = target, work, staging, clip
        self.names = {local_clip: clip.text, self.local_output(): target.text}

    def local_output(self) -> Path:
        """Where the driver writes the output: the output itself, or a local file uploaded once complete."""
        return Path(self.target.path) if self.target.is_local else self.staging / self.target.name

    def describe(self, path: Path) -> str:
        return self.names.get(path, str(path))

    def check(self, output: Path, overwrite: bool) -> None:
        if self.clip.contains(self.target):
            raise OutputError(f"The output {self.target.text} is the input; choose another output.")
        if self.target.is_local:
            super().check(output, overwrite)
            return
        if self.target.exists() and not overwrite:
            raise OutputError(f"{self.target.text} exists already; pass --overwrite to replace it.")
        prepare_destination(self.target.parent())

    def work_folder(self, output: Path) -> WorkFolder:
        if self.work.is_local:
            return WorkFolder(Path(self.work.path))
        return StoredWork(self.work, self.staging / "work")

    def deliver(self, output: Path, overwrite: bool) -> AbstractContextManager[Path]:
        if self.target.is_local:
            return super().deliver(output, overwrite)
        return self._uploaded(output)

    @contextlib.contextmanager
    def _uploaded(self, output: Path) -> Iterator[Path]:
        with atomic_output(output, overwrite=True) as local:
            yield local
        try:
            upload(output, self.target)
        except OutputError as exc:  # maybe the network's doing: keep the chunks, so that --resume only joins them
            raise StorageError(str(exc)) from exc
