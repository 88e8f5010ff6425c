"""Expand the INPUT arguments of a batch command (files, folders, globs) into image files."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path, PurePath

from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: Path  # relative output name: the file name, or its path below a folder argument


def expand_inputs(args: list[str], recursive: bool = False) -> tuple[list[InputFile], list[str]]:
    """Image files named by ``args`` in order, and one sentence for each argument that names none."""
    files: list[InputFile] = []
    problems: list[str] = []
    for arg in args:
        found = _expand(arg, recursive)
        if not found:
            problems.append(_nothing_found(arg))
        files.extend(found)
    return _unique(files), problems


def _expand(arg: str, recursive: bool) -> list[InputFile]:
    path = Path(arg).expanduser()
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return [
            InputFile(p, p.relative_to(path))
            for p in sorted(path.glob(pattern))
            if p.is_file() and is_image_name(p)
        ]
    if path.is_file():
        return [InputFile(path, Path(path.name))]
    if _GLOB_CHARS & set(arg):
        return [InputFile(Path(p), Path(Path(p).name)) for p in sorted(glob.glob(arg, recursive=True)) if Path(p).is_file()]
    return []


def is_image_name(path: PurePath) -> bool:
    """A name with an image suffix, not hidden (temporary files of atomic writes are hidden)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith(".")


def _nothing_found(arg: str) -> str:
    path = Path(arg)
    if path.is_dir():
        return f"{arg}: the folder holds no image files."
    if _GLOB_CHARS & set(arg):
        return f"{arg}: no file matches."
    return f"{arg}: no such file or folder."


def _unique(files: list[InputFile]) -> list[InputFile]:
    seen: set[Path] = set()
    out = []
    for f in files:
        key = f.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
