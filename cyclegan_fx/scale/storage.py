"""Where the inputs, outputs and work of ``batch`` and ``video --ray`` live: local paths, or URIs of pyarrow
filesystems (s3://, gs://, file://).

Pixels are never decoded or encoded here: an object is copied to a local temporary file that the project's
reader decodes, and the project's writer encodes a result into a local temporary file that is then
uploaded. Only complete files ever get their final name, so "the output exists" means "it is done".
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal

from cyclegan_fx.errors import ConfigError, CycleganFxError, ImageReadError, OutputError, StorageError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.io.atomic import temporary_sibling
from cyclegan_fx.io.inputs import is_image_name

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BUFFER = 8 << 20  # bytes per read or write when copying a file: big files never pass through memory whole
Kind = Literal["file", "folder", "missing"]
ProblemCallback = Callable[[str, str], None]  # (path, one-sentence reason)


@dataclass(frozen=True)
class Location:
    """A file or folder: a local path (``fs`` None) or a path inside a pyarrow filesystem."""

    text: str  # as the user wrote it (a URI or a path), for messages and reports
    path: str  # the local path, or the path inside ``fs``
    fs: Any = None

    @property
    def is_local(self) -> bool:
        return self.fs is None

    def child(self, relative: str) -> Location:
        """The location ``relative`` ('/'-separated) below this folder."""
        if self.fs is None:
            parts = relative.split("/")
            return Location(os.path.join(self.text, *parts), os.path.join(self.path, *parts))
        return Location(f"{self.text.rstrip('/')}/{relative}", f"{self.path.rstrip('/')}/{relative}", self.fs)

    def parent(self) -> Location:
        """The folder this file is in."""
        if self.fs is None:
            return Location(os.path.dirname(self.text), os.path.dirname(self.path) or ".")
        return Location(self.text.rstrip("/").rsplit("/", 1)[0], posixpath.dirname(self.path.rstrip("/")), self.fs)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) if self.fs else os.path.basename(self.path)

    def kind(self) -> Kind:
        if self.fs is None:
            return "folder" if os.path.isdir(self.path) else "file" if os.path.exists(self.path) else "missing"
        from pyarrow.fs import FileType

        with _reaching(self.text):
            found = self.fs.get_file_info(self.path).type
        return "folder" if found == FileType.Directory else "missing" if found == FileType.NotFound else "file"

    def exists(self) -> bool:
        return self.kind() != "missing"

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this folder or lies below it."""
        if (self.fs is None) != (other.fs is None):
            return False
        if self.fs is None:
            inner, outer = Path(other.path).resolve(), Path(self.path).resolve()
            return inner == outer or outer in inner.parents
        if self.fs.type_name != other.fs.type_name:
            return False
        outer = self.path.rstrip("/")
        return other.path.rstrip("/") == outer or other.path.startswith(outer + "/")


def is_uri(text: str) -> bool:
    return bool(_URI.match(text))


def locate(text: str) -> Location:
    """A Location for a local path or a URI that pyarrow knows (s3://, gs://, hdfs://, file://)."""
    if not is_uri(text):  # absolute: workers do not share the driver's working directory
        return Location(text, os.path.abspath(os.path.expanduser(text)))
    fs_module = require_extra("pyarrow.fs", f"{text} is a URI; reading URIs needs pyarrow")
    try:
        fs, path = fs_module.FileSystem.from_uri(text)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ConfigError(f"Cannot open {text}: {_first_line(exc)}.") from exc
    return Location(text, path, fs)


# --- listing -------------------------------------------------------------------------------------


def walk(folder: Location, recursive: bool, problem: ProblemCallback) -> Iterator[str]:
    """'/'-separated names of the image files below ``folder``, found lazily.

    Local folders are streamed entry by entry; a pyarrow filesystem is listed one folder at a time, so
    memory follows the largest single folder, never the whole tree. Unreadable folders go to ``problem``.
    """
    lister = _local_entries if folder.fs is None else _fs_entries
    pending = [""]
    while pending:
        below = pending.pop()
        subfolders = []
        try:
            for name, is_folder in lister(folder, below):
                relative = f"{below}/{name}" if below else name
                if not is_folder:
                    if is_image_name(PurePosixPath(name)):
                        yield relative
                elif recursive:
                    subfolders.append(relative)
        except OSError as exc:
            where = folder.child(below).text if below else folder.text
            problem(where, f"Cannot list {where}: {os_reason(exc)}.")
        pending.extend(reversed(subfolders))


def _local_entries(folder: Location, below: str) -> Iterator[tuple[str, bool]]:
    """(name, is_folder) as the OS returns them; symbolic links to folders are not followed (no cycles)."""
    with os.scandir(folder.child(below).path if below else folder.path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield entry.name, True
            elif entry.is_file():
                yield entry.name, False


def _fs_entries(folder: Location, below: str) -> Iterator[tuple[str, bool]]:
    """(name, is_folder) of one folder of a pyarrow filesystem, sorted by name.

    pyarrow follows symbolic links; on a local filesystem, links to folders are skipped as above (no cycles).
    """
    from pyarrow.fs import FileSelector, FileType

    path = folder.child(below).path if below else folder.path
    infos = folder.fs.get_file_info(FileSelector(path, recursive=False))
    local = folder.fs.type_name == "local"
    for info in sorted(infos, key=lambda i: i.base_name):
        if info.type == FileType.Directory and not (local and os.path.islink(info.path)):
            yield info.base_name, True
        elif info.type == FileType.File:
            yield info.base_name, False


# --- reading and writing -------------------------------------------------------------------------


@contextlib.contextmanager
def local_copy(source: Location, error: type[CycleganFxError] = ImageReadError) -> Iterator[Path]:
    """A local file with the content of ``source``: the file itself when it is local; ``error`` says why
    it cannot be read."""
    if source.fs is None:
        yield Path(source.path)
        return
    copy = LocalCopy(source, error)
    try:
        local = copy.path()
        with named_as(local, source.text):
            yield local
    finally:
        copy.close()


class LocalCopy:
    """A local file with the content of ``source`` (the file itself when it is local), downloaded on first use
    and kept until ``close()``: for a reader that needs the same file many times."""

    def __init__(self, source: Location, error: type[CycleganFxError] = ImageReadError) -> None:
        self.source, self.error = source, error
        self.folder: tempfile.TemporaryDirectory | None = None

    def path(self) -> Path:
        if self.source.fs is None:
            return Path(self.source.path)
        if self.folder is None:
            self._download()
        return Path(self.folder.name) / self.source.name

    def _download(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="cyclegan-fx-")
        try:
            download(self.source, Path(self.folder.name) / self.source.name)
        except OSError as exc:
            self.close()
            if isinstance(exc, FileNotFoundError):
                raise self.error(f"Cannot read {self.source.text}: no such file.") from None
            reason = "it is a folder, not a file" if self.source.kind() == "folder" else os_reason(exc)
            raise self.error(f"Cannot read {self.source.text}: {reason}.") from exc

    def close(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None


def download(source: Location, local: Path) -> None:
    """Copy the object ``source`` to the local file ``local``; OSError if it cannot be read."""
    with source.fs.open_input_stream(source.path, compression=None) as stream, local.open("wb") as file:
        shutil.copyfileobj(stream, file, _BUFFER)


def object_stamp(source: Location) -> dict[str, Any]:
    """What tells an object from a changed one: its URI, size and modification time."""
    with _reaching(source.text):
        info = source.fs.get_file_info(source.path)
    return {"path": source.text, "size": info.size, "mtime_ns": info.mtime_ns}


def read_bytes(source: Location) -> bytes:
    """The content of a small object; OSError if it cannot be read."""
    with source.fs.open_input_stream(source.path, compression=None) as stream:
        return stream.read()


@contextlib.contextmanager
def local_target(target: Location) -> Iterator[Path]:
    """A local path to write ``target`` to with the project's writer; ``target`` appears only once complete.

    Local: ``target`` itself (its folder created), which the writer fills under a temporary name and renames.
    A pyarrow filesystem: a local temporary file, uploaded on a clean exit under a hidden temporary key, then
    moved to the final key (a rename on local and HDFS filesystems; a server-side copy and delete on S3 and
    GCS, where an upload that fails half-way could otherwise publish a partial object under the final key).
    """
    if target.fs is None:
        _make_parent(target)
        yield Path(target.path)
        return
    with tempfile.TemporaryDirectory(prefix="cyclegan-fx-") as folder:
        local = Path(folder) / target.name
        with named_as(local, target.text):
            yield local
        upload(local, target)


def _make_parent(target: Location) -> None:
    folder = os.path.dirname(target.path)
    try:
        os.makedirs(folder or ".", exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create folder {folder}: {os_reason(exc)}.") from exc


def upload(local: Path, target: Location) -> None:
    """Copy the local file ``local`` to the object ``target``, which appears only once complete."""
    part = str(temporary_sibling(PurePosixPath(target.path)))
    try:
        with local.open("rb") as file:
            _write_object(target.fs, part, file)
        target.fs.move(part, target.path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            target.fs.delete_file(part)
        raise OutputError(f"Cannot write {target.text}: {os_reason(exc)}.") from exc


def _write_object(fs, path: str, data: BinaryIO) -> None:
    """One upload; a missing folder (filesystems that have real folders) is created on the way."""
    try:
        stream = fs.open_output_stream(path, compression=None)
    except FileNotFoundError:
        fs.create_dir(posixpath.dirname(path), recursive=True)
        stream = fs.open_output_stream(path, compression=None)
    with stream:
        shutil.copyfileobj(data, stream, _BUFFER)


def file_names(folder: Location) -> set[str]:
    """The names of the objects directly in ``folder``; none when it does not exist. OSError if it cannot be
    listed."""
    try:
        return {name for name, is_folder in _fs_entries(folder, "") if not is_folder}
    except FileNotFoundError:
        return set()


def remove_tree(folder: Location) -> None:
    """Remove the folder of objects ``folder`` and everything below it, if it exists."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        folder.fs.delete_dir(folder.path)


def make_folder(folder: Location) -> None:
    """Create ``folder`` on its filesystem (a marker where folders are only prefixes); OSError if it cannot be."""
    folder.fs.create_dir(folder.path, recursive=True)


def prepare_destination(dest: Location) -> None:
    """Create the destination folder if needed and check, before any work, that it can be written."""
    kind = dest.kind()
    if kind == "file":
        raise OutputError(f"{dest.text} is a file; the destination must be a folder.")
    if dest.fs is not None:
        if kind == "missing":
            try:
                dest.fs.create_dir(dest.path, recursive=True)
            except OSError as exc:
                raise OutputError(f"Cannot create {dest.text}: {os_reason(exc)}.") from exc
        return
    try:
        os.makedirs(dest.path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create output folder {dest.text}: {os_reason(exc)}.") from exc
    if not os.access(dest.path, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write into output folder {dest.text}: it is not writable.")


# --- messages ------------------------------------------------------------------------------------


@contextlib.contextmanager
def named_as(local: Path, text: str) -> Iterator[None]:
    """Errors about a local stand-in name the object the user gave instead."""
    try:
        yield
    except CycleganFxError as exc:
        message = str(exc)
        if str(local) not in message:
            raise
        raise type(exc)(message.replace(str(local), text)) from exc


@contextlib.contextmanager
def _reaching(text: str) -> Iterator[None]:
    """A filesystem that cannot be reached (network, credentials) is one sentence."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"Cannot look up {text}: {os_reason(exc)}.") from exc


def os_reason(exc: OSError) -> str:
    """The reason of an OS or filesystem error, in a few lower-case words."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
