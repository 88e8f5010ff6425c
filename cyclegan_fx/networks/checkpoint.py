"""Read generator weights from files users already have, safely, and detect their architecture."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from cyclegan_fx.errors import CheckpointError, UnsafeCheckpointError
from cyclegan_fx.io.library_warnings import library_warnings_logged
from cyclegan_fx.networks.registry import ARCHITECTURES, Generator, build_generator, detect_architecture

_STRAY_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_VINTAGIFY_BLOCK = re.compile(r"^(model\.\d+)\.block\.")
_WRAPPER_KEYS = ("state_dict", "model", "generator", "netG")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` or ``.safetensors`` file; pickled code is refused, never run."""
    if not path.is_file():
        raise CheckpointError(f"Cannot load {path}: no such file.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Cannot load {path}: the file is empty.")
    loaded = _read_safetensors(path) if path.suffix == ".safetensors" else _read_pickle(path)
    return _unwrap(loaded, path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"Cannot load {path}: not a valid safetensors file ({exc}).") from exc


def load_weights_only(path: Path) -> object:
    """``torch.load`` of tensors and plain containers; pickled code raises UnsafeCheckpointError and never runs.

    Other failures propagate for the caller to word, as torch raised them, except that bytes which are no pickle
    at all give a plain UnpicklingError: torch's own text for them advises loading with weights_only=False.
    """
    try:
        with library_warnings_logged(path):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise
        if not _pickled(path):
            raise pickle.UnpicklingError("its bytes are not a PyTorch checkpoint's") from exc
        raise UnsafeCheckpointError(
            f"Refused {path}: it holds pickled objects other than tensors, which could run code when loaded."
        ) from exc


def _pickled(path: Path) -> bool:
    """Whether the file is torch.save's zip or a bare pickle: other bytes (a text file, say) also fail the
    weights-only unpickler, but hold no code."""
    with open(path, "rb") as file:
        head = file.read(2)
    return head == b"PK" or head[:1] == b"\x80"


def _read_pickle(path: Path) -> object:
    try:
        return load_weights_only(path)
    except UnsafeCheckpointError:
        raise
    except Exception as exc:  # the unpickler raises many types on arbitrary bytes
        raise _corrupt(path) from exc


def _corrupt(path: Path) -> CheckpointError:
    return CheckpointError(f"Cannot load {path}: the file is corrupt, truncated or not a PyTorch checkpoint.")


def _unwrap(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict itself, also when saved inside a one-entry wrapper dict."""
    if isinstance(loaded, Mapping):
        for key in _WRAPPER_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, Mapping) and inner:
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise CheckpointError(f"Cannot load {path}: it does not contain a state_dict of tensors.")
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"Cannot load {path}: it does not contain a state_dict of tensors.")
    return tensors


def normalize_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map known variants onto the official layout: DataParallel's ``module.``, vintagify's ``block``."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        key = _VINTAGIFY_BLOCK.sub(r"\1.conv_block.", key)
        out[key] = value
    return out


def generator_from_state_dict(state: Mapping[str, torch.Tensor], source: str = "state_dict") -> Generator:
    """Detect the architecture from keys and shapes, build it and load the weights strictly."""
    state = normalize_keys(state)
    found = detect_architecture(state)
    if found is None:
        raise CheckpointError(f"{source} holds {_describe(state)}, which match no supported generator layout "
                              f"({', '.join(ARCHITECTURES)} CycleGAN generators).")
    arch, config = found
    generator = build_generator(arch.name, config)
    expected = generator.net.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.endswith(_STRAY_NORM_BUFFERS)}
    try:
        generator.net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise CheckpointError(f"{source} looks like a {arch.name} generator but its tensors do not fit: {detail}") from exc
    generator.net.eval()
    return generator


def load_generator(path: str | Path) -> Generator:
    """A generator from an official, vintagify or project weights file."""
    path = Path(path)
    return generator_from_state_dict(read_state_dict(path), source=str(path))


def _describe(state: Mapping[str, torch.Tensor]) -> str:
    keys = list(state)
    sample = ", ".join(repr(k) for k in keys[:3])
    return f"{len(keys)} tensors (keys like {sample}{', ...' if len(keys) > 3 else ''})"
