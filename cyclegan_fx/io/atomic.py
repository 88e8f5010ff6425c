"""Write files under a temporary name in the target folder, then rename into place."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from cyclegan_fx.errors import OutputError


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name next to ``path`` that folder watchers and globs skip."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")


def leftover_temporaries(path: Path) -> list[Path]:
    """Temporary siblings of ``path`` that an interrupted writer left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.part")
    try:
        return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def refuse_existing(target: Path, overwrite: bool) -> None:
    """Raise OutputError if ``target`` exists and may not be replaced."""
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists already; pass --overwrite to replace it.")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``path``, on failure remove it.

    Readers of ``path`` never see a partial file (the data is flushed to disk before
    the rename, so not after a power cut either), and an existing file is only
    replaced when ``overwrite`` is true.
    """
    target = Path(path)
    refuse_existing(target, overwrite)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"Cannot write {target}: folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {target}: folder {folder} is not writable.")
    tmp = temporary_sibling(target)
    try:
        yield tmp
        if not overwrite and target.exists():
            raise OutputError(f"{target} appeared while it was being written; nothing was replaced.")
        _flush_to_disk(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
