"""`cyclegan-fx apply` and `cyclegan-fx models` end to end, on the real vintage generator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import invoke, save_with_code
from PIL import Image

from cyclegan_fx.io.image_read import load_image

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--device", "cpu", "--precision", "fp32", "--backend", "torch"]


@pytest.fixture(scope="module")
def small(tmp_path_factory, photo) -> Path:
    folder = tmp_path_factory.mktemp("small")
    Image.fromarray(photo[100:196, 150:278]).save(folder / "a.png")
    Image.fromarray(photo[200:296, 300:428]).save(folder / "b.jpg", quality=95)
    return folder


def test_the_readme_main_job_translates_the_examples(tmp_path):
    code, out = invoke("apply", ROOT / "examples" / "images", "-o", tmp_path / "out", *FAST)
    assert code == 0, out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["chelsea.jpg", "coffee.jpg"]
    assert f"Wrote 2 images to {tmp_path / 'out'}" in out
    source = np.asarray(Image.open(ROOT / "examples" / "images" / "coffee.jpg"))
    result = np.asarray(Image.open(tmp_path / "out" / "coffee.jpg"))
    assert result.shape == source.shape
    assert np.abs(result.astype(int) - source).mean() > 5  # it really changed the look


def official_variants(state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The same weights in the layouts official checkpoints come in."""
    with_buffers = dict(state)
    for key in [k for k in state if k.endswith(".weight") and state[k].ndim == 1]:
        prefix = key[: -len("weight")]
        channels = state[key].shape[0]
        with_buffers[prefix + "running_mean"] = torch.zeros(channels)
        with_buffers[prefix + "running_var"] = torch.ones(channels)
        with_buffers[prefix + "num_batches_tracked"] = torch.tensor(0)
    dropout = {}
    for key, value in state.items():
        parts = key.split(".")
        if "conv_block" in parts and int(parts[3]) >= 4:
            parts[3] = str(int(parts[3]) + 1)  # Dropout(0.5) sits at index 4
        dropout[".".join(parts)] = value
    return {
        "plain": state,
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "stray-norm-buffers": with_buffers,
        "dropout-layout": dropout,
    }


def test_official_layouts_import_and_give_identical_output(tmp_path, small, vintage, vintage_path):
    reference = tmp_path / "reference.png"
    code, out = invoke("apply", small / "a.png", "-o", reference, "--model", vintage_path, "--tile", "0", *FAST)
    assert code == 0, out
    expected = np.asarray(Image.open(reference))
    for name, state in official_variants(vintage.net.state_dict()).items():
        checkpoint = tmp_path / f"latest_net_G_{name}.pth"
        torch.save(state, checkpoint)
        code, out = invoke("models", "import", checkpoint, "--name", f"official-{name}")
        assert code == 0, out
        target = tmp_path / f"{name}.png"
        code, out = invoke("apply", small / "a.png", "-o", target, "--model", f"official-{name}", "--tile", "0", *FAST)
        assert code == 0, out
        assert np.array_equal(np.asarray(Image.open(target)), expected), name


def test_models_list_info_and_remove(tmp_path, vintage_path):
    code, out = invoke("models", "import", vintage_path, "--name", "temp-model", "--label", "Temp Look")
    assert code == 0, out
    code, out = invoke("models", "list")
    assert "vintage" in out and "Modern to Vintage" in out and "Temp Look" in out
    code, out = invoke("models", "info", "temp-model")
    assert '"receptive_field_radius": 87' in out and '"granularity": 4' in out
    code, out = invoke("models", "remove", "temp-model")
    assert code == 0
    code, out = invoke("models", "info", "temp-model")
    assert code == 1 and "No model named 'temp-model'" in out


def test_sixteen_bit_and_alpha_survive(tmp_path, photo):
    rgb16 = photo[:96, :128].astype(np.uint16) * 257 + np.arange(128, dtype=np.uint16)[None, :, None]
    alpha = np.tile(np.linspace(0, 255, 128, dtype=np.uint8), (96, 1))
    import cv2

    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    Image.fromarray(np.dstack([photo[:96, :128], alpha]), "RGBA").save(tmp_path / "alpha.png")
    for name in ("deep.png", "alpha.png"):
        code, out = invoke("apply", tmp_path / name, "-o", tmp_path / f"out-{name}", *FAST)
        assert code == 0, out
    deep = load_image(tmp_path / "out-deep.png").pixels
    assert deep.dtype == np.uint16 and deep.shape == (96, 128, 3)
    assert (deep % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit scaled up
    with_alpha = load_image(tmp_path / "out-alpha.png").pixels
    assert with_alpha.shape == (96, 128, 4)
    assert np.array_equal(with_alpha[:, :, 3], alpha)


def test_a_batch_reports_bad_files_and_translates_the_rest(tmp_path, small):
    batch = tmp_path / "in"
    shutil.copytree(small, batch)
    (batch / "empty.jpg").write_bytes(b"")
    (batch / "notes.png").write_text("not an image")
    whole = (small / "b.jpg").read_bytes()
    (batch / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    code, out = invoke("apply", batch, "-o", tmp_path / "out", *FAST)
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]
    for name in ("empty.jpg", "notes.png", "cut.jpg"):
        assert sum(name in line and "FAILED" in line for line in out.splitlines()) == 1, out
    assert "Traceback" not in out and "3 input(s) failed" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--max-pixels", "1000"], "over the"),
        (["--model", "no-such-model"], "No model named 'no-such-model'"),
        (["--model", "{tmp}/broken.pth"], "corrupt, truncated or not a PyTorch checkpoint"),
        (["--model", "{tmp}/foreign.pth"], "match no supported generator layout"),
        (["--model", "{tmp}/notes.pth"], "corrupt, truncated or not a PyTorch checkpoint"),  # not code: text
        (["--model", "{tmp}/evil.pth"], "could run code"),
        (["--direction", "b2a"], "has no b2a generator"),
        (["--work-size", "huge"], "--work-size must be 'full', 'model' or a whole number of at least 16, not 'huge'"),
    ],
)
def test_bad_requests_get_one_sentence_and_no_output(tmp_path, small, args, message):
    (tmp_path / "broken.pth").write_bytes(b"PK\x03\x04 definitely not a zip")
    (tmp_path / "notes.pth").write_text("# Notes\n\nA text file given as a model.\n")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "foreign.pth")
    torch.save({"x": Path("/")}, tmp_path / "evil.pth")
    args = [a.format(tmp=tmp_path) for a in args]
    code, out = invoke("apply", small / "a.png", "-o", tmp_path / "out.png", *FAST, *args)
    assert code != 0 and message in out, out
    assert "Traceback" not in out and "Wrote" not in out
    assert not (tmp_path / "out.png").exists()
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("command", [["apply", "{image}", "-o", "{tmp}/out.png", "--model", "{evil}", *FAST],
                                     ["models", "import", "{evil}", "--name", "evil"]], ids=["apply", "import"])
def test_a_checkpoint_with_code_is_refused_in_one_sentence_of_ours(tmp_path, small, command):
    """In a real process, where torch's own warning about the pickle would reach the terminal."""
    evil, marker = tmp_path / "evil.pth", tmp_path / "marker"
    save_with_code({"state_dict": {"model.1.weight": torch.zeros(4, 3, 7, 7)}}, evil, marker)
    args = [a.format(image=small / "a.png", tmp=tmp_path, evil=evil) for a in command]
    done = subprocess.run([sys.executable, "-m", "cyclegan_fx", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: Refused {evil}: it holds pickled objects other than tensors, which could run code when loaded."]
    assert not any(s in done.stderr for s in ("protocol", "Warning", "file an issue"))
    assert not marker.exists() and not (tmp_path / "out.png").exists()


def test_too_small_images_are_refused(tmp_path):
    Image.new("RGB", (5, 40)).save(tmp_path / "thin.png")
    code, out = invoke("apply", tmp_path / "thin.png", "-o", tmp_path / "out.png", *FAST)
    assert code == 1 and "needs at least 8x8" in out


def test_existing_outputs_are_kept_without_overwrite(tmp_path, small):
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    code, out = invoke("apply", small / "a.png", "-o", target, *FAST)
    assert code == 1 and "exists already" in out and target.read_bytes() == b"precious"
    code, out = invoke("apply", small / "a.png", "-o", target, "--overwrite", *FAST)
    assert code == 0 and load_image(target).pixels.shape == (96, 128, 3)


def test_unwritable_output_folder(tmp_path, small, vintage_path):
    code, out = invoke("apply", small / "a.png", small / "b.jpg", "-o", small / "a.png" / "sub", *FAST)
    assert code == 1 and "Cannot create output folder" in out
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if as_user and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv, so no folder can be made unwritable")
    shared = Path(tempfile.mkdtemp(prefix="cfx-locked-"))  # reachable by the unprivileged user
    try:
        shared.chmod(0o755)
        shutil.copy(small / "a.png", shared / "a.png")
        locked = shared / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        done = subprocess.run(
            [*as_user, sys.executable, "-m", "cyclegan_fx", "apply", str(shared / "a.png"), "-o",
             str(locked / "x.png"), "--model", str(vintage_path), *FAST],
            capture_output=True, text=True, env={**os.environ, "HOME": str(shared)}, cwd=shared,
        )
        assert done.returncode == 1, done.stderr
        assert "not writable" in done.stderr and "Traceback" not in done.stderr
        assert not any(locked.iterdir())
    finally:
        shutil.rmtree(shared)


def test_input_files_are_never_modified(tmp_path, small):
    before = {p.name: p.read_bytes() for p in small.iterdir()}
    code, output = invoke("apply", small, "-o", tmp_path / "out", *FAST)
    assert code == 0 and len(list((tmp_path / "out").iterdir())) == len(before), output
    assert {p.name: p.read_bytes() for p in small.iterdir()} == before
