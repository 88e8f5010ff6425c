"""The account of a batch job: a failures report (JSON lines) written as failures happen, and a summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cyclegan_fx.errors import OutputError
from cyclegan_fx.scale.work import Outcome


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0  # complete outputs found (from an earlier run): nothing redone
    failed: int = 0
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.written + self.skipped + self.failed

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)

    def sentence(self) -> str:
        rate = self.written / self.seconds if self.seconds else 0.0
        return (f"Translated {self.written}, skipped {self.skipped} already done, {self.failed} failed, "
                f"in {self.seconds:.1f} s ({rate:.2f} images/s).")


class FailureReport:
    """One JSON object per line, {"path": input, "reason": one sentence}; a new run starts a new report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file: TextIO = path.open("w", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise OutputError(f"Cannot write the failures report {path}: {exc.strerror or exc}.") from exc

    def add(self, path: str, reason: str) -> None:
        self.file.write(json.dumps({"path": path, "reason": reason}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> FailureReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
