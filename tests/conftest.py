"""Shared fixtures: the real vintage generator, tiny generators, sample images, an isolated store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import crops, write_folder
from PIL import Image

from cyclegan_fx.models import builtin
from cyclegan_fx.networks import Generator, load_generator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "images"


@pytest.fixture(scope="session", autouse=True)
def isolated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session gets its own model store; the user's is never touched."""
    home = tmp_path_factory.mktemp("store")
    mp = pytest.MonkeyPatch()
    mp.setenv("CYCLEGAN_FX_HOME", str(home))
    yield home
    mp.undo()


@pytest.fixture(scope="session")
def vintage_path() -> Path:
    path = builtin.checkpoint_path()
    assert path is not None, "the vintagify package (a project dependency) must be installed"
    return path


@pytest.fixture(scope="session")
def vintage(vintage_path: Path) -> Generator:
    """The real pretrained 9-block generator."""
    return load_generator(vintage_path)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (CC0), 400x600 RGB uint8."""
    return np.asarray(Image.open(EXAMPLES / "coffee.jpg").convert("RGB"))


@pytest.fixture
def dataset(tmp_path) -> Path:
    """DATA/trainA, trainB, testA, testB with a few small natural crops."""
    root = tmp_path / "data"
    write_folder(root / "trainA", crops("astronaut", 6, 40, 1))
    write_folder(root / "trainB", crops("coffee", 5, 40, 2))
    write_folder(root / "testA", crops("rocket", 2, 40, 3))
    write_folder(root / "testB", crops("chelsea", 2, 40, 4))
    return root
