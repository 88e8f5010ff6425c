"""File operations the daemon's guarantees rest on: moves that never replace, small records written atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from cyclegan_fx.io.atomic import atomic_output, leftover_temporaries

# Where hard links are refused (no support, or Linux's protected_hardlinks for another user's file).
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def move_no_replace(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; FileExistsError if another file is there.

    A hard link makes the check and the move one atomic step; where links are refused it is a check
    then a rename, and across file systems a copy (written atomically) then a delete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        if not same_file(source, target):
            raise
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, *_NO_LINKS):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from exc
        if exc.errno != errno.EXDEV:
            os.rename(source, target)
            return
        with atomic_output(target) as tmp:
            shutil.copy2(source, tmp)
    os.unlink(source)


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_record(path: Path, data: dict[str, Any], overwrite: bool = True) -> None:
    """A small JSON file, replaced atomically."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def read_record(path: Path) -> dict[str, Any]:
    """A JSON object written by ``write_record``; ValueError if it is not one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def remove(path: Path) -> None:
    """Delete a file and any temporary copies of it an interrupted writer left."""
    for leftover in [*leftover_temporaries(path), path]:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
