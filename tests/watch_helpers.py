"""Running `cyclegan-fx watch` as a real process, and making and checking the files it works on."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from helpers import DATA
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--device", "cpu", "--precision", "fp32", "--backend", "torch"]
START_TIMEOUT = 120.0  # seconds for a daemon to load torch and its model on a busy 2-core machine


def photo_bytes(index: int, width: int = 96, height: int = 64, fmt: str = "JPEG") -> bytes:
    """A distinct small crop of one of the test photos, encoded."""
    names = ("astronaut", "coffee", "chelsea", "rocket")
    photo = Image.open(DATA / f"{names[index % 4]}.jpg").convert("RGB")
    x = (index * 37) % (photo.width - width)
    y = (index * 23) % (photo.height - height)
    buffer = io.BytesIO()
    photo.crop((x, y, x + width, y + height)).save(buffer, format=fmt, quality=92)
    return buffer.getvalue()


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Put a file into a watched folder the way careful tools do: a temporary name, then a rename."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.XyZ123")  # rsync's temporary name
    tmp.write_bytes(data)
    os.rename(tmp, target)
    return target


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> list[Path]:
    """Every file below ``folder`` (dot files included), relative paths."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def wait_until(condition: Callable[[], bool], timeout: float, what: str, log: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"; log:\n{log()}" if log else ""))
        time.sleep(0.05)


class Daemon:
    """A `cyclegan-fx watch` process; its output goes to a file the test reads."""

    def __init__(self, args: list, log_path: Path, verbose: bool = False) -> None:
        self.log_path = log_path
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "cyclegan_fx", *(["-vv"] if verbose else []), "watch", *map(str, args)]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=log_path.parent,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, count: int = 1) -> None:
        """Wait until the daemon watches its folder(s)."""
        wait_until(lambda: self.log().count("Watching ") >= count or self.process.poll() is not None,
                   START_TIMEOUT, "the daemon to start", self.log)
        assert self.process.poll() is None, self.log()

    def wait_log(self, text: str, count: int = 1, timeout: float = 60.0) -> None:
        wait_until(lambda: self.log().count(text) >= count, timeout, f"{count} x {text!r} in the log", self.log)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()


def run_once(args: list, log_path: Path, timeout: float = 240.0, verbose: bool = False) -> tuple[int, str]:
    """`cyclegan-fx watch --once ...` to the end: exit code and output."""
    daemon = Daemon([*args, "--once"], log_path, verbose)
    try:
        code = daemon.process.wait(timeout)
    finally:
        daemon.close()
    return code, daemon.log()


def decoded_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()  # the whole file decodes: not truncated
        return image.size


def mean_difference(a: Path, b: Path) -> float:
    first = np.asarray(Image.open(a).convert("RGB"), dtype=np.float64)
    second = np.asarray(Image.open(b).convert("RGB"), dtype=np.float64)
    return float(np.abs(first - second).mean())


def save_tiny_model(path: Path, seed: int) -> Path:
    """A tiny generator as a checkpoint file, written atomically (so a watching daemon never reads half of it)."""
    import torch
    from helpers import tiny_generator

    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(tiny_generator(seed).net.state_dict(), tmp)
    os.replace(tmp, path)
    return path
