"""Without an optional extra, each command that needs it ends in one sentence naming the extra, never a traceback.

Each command runs in a real subprocess whose imports of the extra's modules fail, as in a base install.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_generator
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ONNX = ("onnx", "onnxscript", "onnxruntime")
BASE = (*ONNX, "tensorrt", "ray", "pyarrow")  # every module of every extra
CPU = ["--device", "cpu", "--precision", "fp32"]

# Hides the modules named in argv[1] (comma-separated) from the path finder, as if they were not installed (their
# imports fail, importlib.util.find_spec says None), then runs the CLI.
WITHOUT = """
import importlib.machinery
import sys
blocked = set(sys.argv.pop(1).split(","))

class Hiding(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.split(".")[0] in blocked else super().find_spec(name, path, target)

sys.meta_path = [Hiding if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
from cyclegan_fx.cli import main
main()
"""


def run_without(modules: tuple[str, ...], *args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", WITHOUT, ",".join(modules), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


def assert_names_extra(result: subprocess.CompletedProcess, extra: str) -> None:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"pip install 'cyclegan-fx[{extra}]'" in errors[0], result.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.pth"
    torch.save(tiny_generator(seed=3).net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory, photo) -> Path:
    path = tmp_path_factory.mktemp("input") / "in.png"
    Image.fromarray(photo[:96, :128]).save(path)
    return path


@pytest.mark.parametrize("missing", [ONNX, ("onnxruntime",)], ids=["base", "no-onnxruntime"])
def test_apply_with_onnxruntime(missing, checkpoint, image, tmp_path):
    result = run_without(missing, "apply", image, "-o", tmp_path / "out.png", "--model", checkpoint,
                         "--backend", "onnxruntime", *CPU)
    assert_names_extra(result, "onnx")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("missing", [BASE, ("onnxscript",), ("onnxruntime",)],
                         ids=["base", "no-onnxscript", "no-onnxruntime"])
def test_export_onnx(missing, checkpoint, tmp_path):
    result = run_without(missing, "export", checkpoint, "--format", "onnx", "-o", tmp_path / "tiny.onnx")
    assert_names_extra(result, "onnx")
    assert not (tmp_path / "tiny.onnx").exists()


@pytest.mark.parametrize(("missing", "extra"), [(BASE, "onnx"), (("tensorrt",), "tensorrt")],
                         ids=["base", "no-tensorrt"])
@pytest.mark.heavy
def test_export_engine(missing, extra, checkpoint, tmp_path):
    if missing == ("tensorrt",) and importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed here, so hiding it changes nothing: test_export.py's "
                    "test_engine_export_runs_the_onnx_steps_then_says_what_is_missing runs this case for real")
    result = run_without(missing, "export", checkpoint, "--format", "engine", "-o", tmp_path / "tiny.engine")
    assert_names_extra(result, extra)
    assert not (tmp_path / "tiny.engine").exists()


@pytest.mark.parametrize(("missing", "source"), [(("ray", "pyarrow"), "folder"), (("pyarrow",), "file:///")],
                         ids=["base", "uri-without-pyarrow"])
def test_batch(missing, source, image, tmp_path):
    source = image.parent if source == "folder" else f"file://{image.parent}"
    result = run_without(missing, "batch", source, "-o", tmp_path / "out", "--failures", tmp_path / "failures.jsonl")
    assert_names_extra(result, "ray")
