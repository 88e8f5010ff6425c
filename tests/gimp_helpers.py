"""What the real-GIMP tests share: the cyclegan-fx command, its service on this machine, and the
layers GIMP hands back compared with what `cyclegan-fx apply` writes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cyclegan_fx.io.image_read import load_image
from cyclegan_fx.serve import answers, read_endpoint

ROOT = Path(__file__).resolve().parent.parent


def gimp_session(tmp_path_factory, name: str) -> tuple[Path, Path, Path, Path]:
    """The GIMP chroot (skipping the test with its reason where there is none), and a fresh work folder with
    a home for the model store and an empty output folder: ``(root, work, home, out)``."""
    import gimp_chroot
    import pytest

    reason = gimp_chroot.unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = gimp_chroot.ensure_rootfs()
    work = tmp_path_factory.mktemp(name)
    home, out = work / "home", work / "out"
    out.mkdir()
    return root, work, home, out


def cli(home: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    """The real `cyclegan-fx` command of this checkout, with its own home folder."""
    done = subprocess.run([sys.executable, "-m", "cyclegan_fx", *map(str, args)], check=False, env=_env(home),
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@contextlib.contextmanager
def serving(home: Path, log: Path) -> Iterator[None]:
    """`cyclegan-fx serve` for ``home`` on this machine, answering, for the block; stopped cleanly after."""
    service = subprocess.Popen([sys.executable, "-m", "cyclegan_fx", "serve", "--idle-timeout", "900"],
                               env=_env(home), stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        _wait_for_service(home, service)
        yield
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)
    assert not (home / "serve.json").exists()


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CYCLEGAN_FX_HOME": str(home), "PYTHONPATH": str(ROOT)}


def _wait_for_service(home: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        endpoint = read_endpoint(home)
        if endpoint is not None and answers(endpoint):
            return
        assert process.poll() is None, "cyclegan-fx serve exited at start"
        time.sleep(0.2)
    raise AssertionError("cyclegan-fx serve did not answer")


def applied(run: dict, source: Path, *options) -> np.ndarray:
    """What `cyclegan-fx apply` writes for ``source`` with the home and work folders of ``run``."""
    target = run["work"] / f"applied-{source.stem}-{abs(hash(options))}.png"
    cli(run["home"], "apply", source, "-o", target, "--overwrite", *options)
    return load_image(target).pixels


def layer_pixels(layer: dict) -> np.ndarray:
    """A layer dumped by gimp_batch.dump_layer, as an array."""
    kind = layer["format"].split()[1]
    dtype = {"u8": np.uint8, "u16": np.uint16, "float": np.float32}[kind]
    channels = (1 if layer["gray"] else 3) + int(layer["alpha"])
    return np.fromfile(layer["raw"], dtype=dtype).reshape(layer["height"], layer["width"], channels)


def close(a: np.ndarray, b: np.ndarray, tolerance: float) -> None:
    a, b = a.reshape(a.shape[0], a.shape[1], -1), b.reshape(b.shape[0], b.shape[1], -1)
    assert a.shape == b.shape
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64)).max()
    assert difference <= tolerance, difference
