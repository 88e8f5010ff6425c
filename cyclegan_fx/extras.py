"""Optional dependencies: imported where they are needed, with one sentence naming the extra when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from cyclegan_fx.errors import MissingExtraError

# top-level module: (what the user knows it as, the extra of pyproject.toml that installs it, a hint)
EXTRAS = {
    "onnx": ("ONNX", "onnx", ""),
    "onnxscript": ("onnxscript", "onnx", ""),
    "onnxruntime": ("ONNX Runtime", "onnx", ""),
    "tensorrt": ("TensorRT", "tensorrt", " on a machine with an NVIDIA GPU"),
    "ray": ("Ray", "ray", ""),
    "pyarrow": ("pyarrow", "ray", ""),
}


def require_extra(module: str, purpose: str = "") -> ModuleType:
    """Import ``module`` (or a submodule of it); raise MissingExtraError, naming the extra, if it is missing.

    ``purpose`` says what needs it, e.g. "Batch jobs need Ray" instead of "Ray is not installed"."""
    label, extra, hint = EXTRAS[module.split(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError:
        what = purpose or f"{label} is not installed"
        raise MissingExtraError(f"{what}: pip install 'cyclegan-fx[{extra}]'{hint}.") from None
