"""Which files in a hot folder are inputs, and the names their outputs and originals get."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import PurePosixPath

from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES

# Names that copy tools, browsers and editors give files while they are still being written.
TEMPORARY_ENDINGS = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", "~")
FORMAT_SUFFIXES = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}


def is_temporary(name: str) -> bool:
    """Dot files (rsync's ``.name.XXXXXX`` among them) and the temporary endings above."""
    return name.startswith(".") or name.lower().endswith(TEMPORARY_ENDINGS)


@dataclass(frozen=True)
class InputRules:
    """Include/exclude globs (matched case-insensitively against the path below INBOX and the file name)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def accepts(self, relative: PurePosixPath) -> bool:
        """An image that is not a temporary name, in no hidden folder, included and not excluded."""
        if any(is_temporary(part) for part in relative.parts) or relative.suffix.lower() not in SUPPORTED_SUFFIXES:
            return False
        if self.include and not _matches(relative, self.include):
            return False
        return not _matches(relative, self.exclude)


def _matches(relative: PurePosixPath, patterns: tuple[str, ...]) -> bool:
    candidates = (str(relative).lower(), relative.name.lower())
    return any(fnmatch.fnmatchcase(c, p.lower()) for p in patterns for c in candidates)


def numbered(relative: PurePosixPath, number: int, suffix: str | None = None) -> PurePosixPath:
    """``a/x.jpg`` for number 0, ``a/x-2.jpg`` for 2; ``suffix`` replaces the file's own."""
    stem = relative.stem if number == 0 else f"{relative.stem}-{number}"
    return relative.with_name(stem + (suffix if suffix is not None else relative.suffix))


def output_suffix(relative: PurePosixPath, output_format: str) -> str:
    """The suffix of the translated image: the input's own for ``same``."""
    return FORMAT_SUFFIXES.get(output_format, relative.suffix)


def error_file_name(name: str) -> str:
    """The file beside a failed input that holds the reason: ``x.jpg.error.txt``."""
    return f"{name}.error.txt"
