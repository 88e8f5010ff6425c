"""`cyclegan-fx train`: configuration, exact resume, interruption, export, bad input."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import crops, invoke, save_with_code
from PIL import Image

from cyclegan_fx.models import ModelStore
from cyclegan_fx.training.checkpoint import load_latest
from cyclegan_fx.training.config import TrainConfig, read_toml

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--preprocess", "crop", "--crop-size", "32",
        "--sample-every", "0", "--log-every", "1", "--checkpoint-every", "2", "--no-auto-export"]


def test_defaults_are_the_official_ones():
    c = TrainConfig()
    assert (c.netG, c.netD, c.n_layers_D, c.ngf, c.ndf, c.norm, c.init_type, c.init_gain) == (
        "resnet_9blocks", "basic", 3, 64, 64, "instance", "normal", 0.02)
    assert (c.gan_mode, c.lambda_A, c.lambda_B, c.lambda_identity, c.pool_size) == ("lsgan", 10.0, 10.0, 0.5, 50)
    assert (c.lr, c.beta1, c.n_epochs, c.n_epochs_decay, c.lr_policy) == (2e-4, 0.5, 100, 100, "linear")
    assert (c.preprocess, c.load_size, c.crop_size, c.no_flip, c.batch_size) == ("resize_and_crop", 286, 256, False, 1)


def test_toml_options_flags_override_them_and_the_resolved_config_is_saved(dataset, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('ngf = 8\nlambda-identity = 0.0\nn_epochs = 7\n')
    code, out = invoke("train", dataset, "--name", "cfg", "--runs-dir", tmp_path / "runs", "--config", config,
                       *TINY, "--ngf", "4", "--max-steps", "1", "--num-workers", "0")
    assert code == 0, out
    saved = read_toml(tmp_path / "runs" / "cfg" / "config.toml")
    assert saved["ngf"] == 4 and saved["lambda_identity"] == 0.0 and saved["n_epochs"] == 7
    assert saved["lr"] == 2e-4 and saved["data"] == dataset.absolute()


def nets_after(run: Path) -> dict[str, torch.Tensor]:
    _, state = load_latest(run / "checkpoints")
    return state["model"]["nets"]


@pytest.mark.parametrize("workers", [0, 2])
def test_resuming_gives_bit_identical_weights(dataset, tmp_path, workers):
    common = [*TINY, "--num-workers", workers, "--pool-size", "3", "--n-epochs", "1", "--n-epochs-decay", "2"]
    code, out = invoke("train", dataset, "--name", "straight", "--runs-dir", tmp_path, *common, "--max-steps", 7)
    assert code == 0, out
    code, out = invoke("train", dataset, "--name", "broken", "--runs-dir", tmp_path, *common, "--max-steps", 3)
    assert code == 0, out
    code, out = invoke("train", "--resume", tmp_path / "broken", "--max-steps", 7)
    assert code == 0, out
    straight, resumed = nets_after(tmp_path / "straight"), nets_after(tmp_path / "broken")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert any(not torch.equal(straight[k], v) for k, v in nets_after_first_checkpoint(tmp_path / "broken").items())


def nets_after_first_checkpoint(run: Path) -> dict[str, torch.Tensor]:
    """Weights at iteration 2, to show that training did change them (the comparison above can fail)."""
    path = run / "checkpoints" / "step_00000002.pt"
    if not path.exists():  # pruned: keep the oldest one left instead
        path = sorted((run / "checkpoints").glob("step_*.pt"))[0]
    return torch.load(path, weights_only=False)["model"]["nets"]


def test_resume_refuses_a_change_of_what_is_learned(dataset, tmp_path):
    code, out = invoke("train", dataset, "--name", "r", "--runs-dir", tmp_path, *TINY, "--max-steps", 2,
                       "--num-workers", 0)
    assert code == 0, out
    code, out = invoke("train", "--resume", tmp_path / "r", "--lr", "0.1")
    assert code == 1 and "Cannot resume" in out and "--lr" in out


def test_a_damaged_newest_checkpoint_is_passed_over_with_one_plain_sentence(dataset, tmp_path):
    code, out = invoke("train", dataset, "--name", "d", "--runs-dir", tmp_path, *TINY, "--max-steps", 4,
                       "--num-workers", 0)
    assert code == 0, out
    latest = tmp_path / "d" / "checkpoints" / "step_00000004.pt"
    latest.write_text("# overwritten by a text editor\n")
    code, out = invoke("train", "--resume", tmp_path / "d", "--max-steps", 6)
    assert code == 0, out
    assert f"Checkpoint {latest} is damaged (its bytes are not a PyTorch checkpoint's). Trying the one before it." in out
    assert "weights_only" not in out  # torch's advice to load it unsafely is never passed on
    assert (tmp_path / "d" / "checkpoints" / "step_00000006.pt").is_file()


def test_resuming_a_checkpoint_with_code_is_refused_in_one_sentence(dataset, tmp_path):
    """The newest checkpoint was tampered with: refused, not run, and not quietly replaced by the older one."""
    code, out = invoke("train", dataset, "--name", "t", "--runs-dir", tmp_path, *TINY, "--max-steps", 3,
                       "--num-workers", 0)
    assert code == 0, out
    latest, marker = tmp_path / "t" / "checkpoints" / "step_00000003.pt", tmp_path / "marker"
    save_with_code(torch.load(latest, weights_only=True), latest, marker)
    done = subprocess.run([sys.executable, "-m", "cyclegan_fx", "train", "--resume", str(tmp_path / "t"),
                           "--max-steps", "4"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: Refused {latest}: it holds pickled objects other than tensors, which could run code when loaded."]
    assert not marker.exists()


def test_training_ends_in_the_store_with_both_directions(dataset, tmp_path, photo):
    options = [o for o in TINY if o != "--no-auto-export"]
    code, out = invoke("train", dataset, "--name", "s2w-test", "--label", "Summer to Winter", "--runs-dir", tmp_path,
                       *options, "--max-steps", 2, "--num-workers", 0, "--sample-every", 1)
    assert code == 0, out
    model = ModelStore().get("s2w-test")
    assert model.info.label == "Summer to Winter" and set(model.info.directions) == {"a2b", "b2a"}
    assert model.info.training_size == 32 and model.info.work_size
    run = tmp_path / "s2w-test"
    assert (run / "losses.csv").read_text().count("\n") >= 3 and (run / "losses.png").stat().st_size > 0
    grid = Image.open(sorted((run / "samples").glob("*.png"))[-1])
    assert grid.width >= 6 * 32  # six columns: real A, fake B, rec A, real B, fake A, rec B
    for direction in ("a2b", "b2a"):
        target = tmp_path / f"{direction}.png"
        Image.fromarray(photo[:64, :96]).save(tmp_path / "in.png")
        code, out = invoke("apply", tmp_path / "in.png", "-o", target, "-m", "s2w-test", "-d", direction,
                           "--backend", "torch", "--device", "cpu")
        assert code == 0, out


def test_export_at_any_time_replaces_the_bundle(dataset, tmp_path):
    code, out = invoke("train", dataset, "--name", "later", "--runs-dir", tmp_path, *TINY, "--max-steps", 2,
                       "--num-workers", 0)
    assert code == 0, out
    code, out = invoke("train", "--export", tmp_path / "later", "--label", "Later Look")
    assert code == 0, out
    first = ModelStore().get("later")
    code, out = invoke("train", "--resume", tmp_path / "later", "--max-steps", 4)
    assert code == 0, out
    code, out = invoke("train", "--export", tmp_path / "later")
    assert code == 0, out
    second = ModelStore().get("later")
    assert first.info.label == second.info.label == "Later Look"
    assert first.info.directions["a2b"].sha256 != second.info.directions["a2b"].sha256


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda d: shutil.rmtree(d / "trainB"), "does not exist"),
        (lambda d: [p.unlink() for p in (d / "trainA").iterdir()], "is empty"),
        (lambda d: [p.write_bytes(b"junk") for p in (d / "trainA").iterdir()], "usable images"),
        (lambda d: [Image.new("RGB", (16, 16)).save(p) for p in (d / "trainB").iterdir()], "too small"),
    ],
    ids=["missing", "empty", "corrupt", "small"],
)
def test_bad_training_folders_are_one_sentence(dataset, tmp_path, setup, message):
    setup(dataset)
    code, out = invoke("train", dataset, "--name", "bad", "--runs-dir", tmp_path / "runs", *TINY, "--max-steps", 1)
    assert code == 1 and message in out and "Traceback" not in out
    assert not (tmp_path / "runs" / "bad" / "checkpoints").exists() or not any((tmp_path / "runs" / "bad" / "checkpoints").iterdir())


def test_a_loss_that_is_no_longer_a_number_stops_training_before_any_checkpoint(dataset, tmp_path):
    """Adam at a learning rate of 1e30 throws the weights to infinity within a step or two."""
    code, out = invoke("train", dataset, "--name", "nan", "--runs-dir", tmp_path, *TINY, "--lr", "1e30",
                       "--max-steps", 6, "--checkpoint-every", 1, "--num-workers", "0")
    assert code == 1 and "Training diverged at iteration" in out and "Traceback" not in out, out
    assert "lower --lr than 1e+30" in out
    diverged = int(re.search(r"diverged at iteration (\d+)", out).group(1))
    steps = [int(p.stem.split("_")[1]) for p in (tmp_path / "nan" / "checkpoints").glob("step_*.pt")]
    assert diverged <= 6 and all(step < diverged for step in steps)  # none from the iteration that went wrong or later


def test_a_few_corrupt_files_are_skipped_and_counted(dataset, tmp_path, caplog):
    (dataset / "trainA" / "broken.png").write_bytes(b"\x89PNG not really")
    (dataset / "trainA" / "notes.txt").write_text("hello")
    code, out = invoke("train", dataset, "--name", "skip", "--runs-dir", tmp_path, *TINY, "--max-steps", 1,
                       "--num-workers", 0)
    assert code == 0, out
    assert "2 of 8" in caplog.text or "2 of 8" in out


def test_an_unwritable_runs_folder_is_one_sentence(dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out = invoke("train", dataset, "--name", "x", "--runs-dir", blocker / "runs", *TINY, "--max-steps", 1)
    assert code == 1 and "Cannot create run folder" in out


def assert_final_picture(run: Path, step: int) -> None:
    """The run's last sample grid is of iteration ``step``, and its loss curve is a PNG that decodes."""
    grids = sorted((run / "samples").glob("step_*.png"))
    assert grids and grids[-1].name == f"step_{step:08d}.png"
    with Image.open(grids[-1]) as grid:
        grid.load()
        assert grid.width >= 6 * 32  # six columns: real A, fake B, rec A, real B, fake A, rec B
    with Image.open(run / "losses.png") as curve:
        curve.load()
        assert curve.format == "PNG" and curve.width > 100


def test_a_run_cut_short_by_max_steps_leaves_a_sample_grid_and_a_loss_curve(dataset, tmp_path):
    """No periodic grid (--sample-every 0) and a last loss record that --log-every did not reach."""
    code, out = invoke("train", dataset, "--name", "short", "--runs-dir", tmp_path, *TINY, "--log-every", 4,
                       "--max-steps", 6, "--num-workers", 0)
    assert code == 0, out
    assert_final_picture(tmp_path / "short", 6)
    lines = (tmp_path / "short" / "losses.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["4", "6"]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_checkpoints_leaves_a_picture_and_the_run_resumes(dataset, tmp_path, stop_signal):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cyclegan_fx", "train", str(dataset), "--name", "stopped", "--runs-dir", str(tmp_path),
         *TINY, "--checkpoint-every", "1000", "--max-steps", "10000", "--num-workers", "0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    for line in process.stderr:
        if "step 3:" in line:
            break
    process.send_signal(stop_signal)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 128 + stop_signal
    assert "checkpoint" in rest and "--resume" in rest and "Traceback" not in rest
    _, state = load_latest(tmp_path / "stopped" / "checkpoints")
    assert 3 <= state["position"]["step"] < 10000
    assert_final_picture(tmp_path / "stopped", state["position"]["step"])
    code, out = invoke("train", "--resume", tmp_path / "stopped", "--max-steps", state["position"]["step"] + 1)
    assert code == 0, out


def test_a_full_disk_keeps_the_previous_checkpoint(dataset, tmp_path):
    """A real 'no space left on device', from a small tmpfs (needs root to mount it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                                            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        code, out = invoke("train", dataset, "--name", "full", "--runs-dir", disk, *TINY, "--ngf", "8",
                           "--checkpoint-every", "1", "--max-steps", "50", "--num-workers", "0")
        assert code == 1 and "No space left on device" in out and "intact" in out, out
        path, state = load_latest(disk / "full" / "checkpoints")
        assert state["position"]["step"] >= 1  # the last complete checkpoint still loads
        assert not list((disk / "full" / "checkpoints").glob(".*.part"))
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_torchrun_trains_with_ddp_and_only_rank_0_writes(dataset, tmp_path):
    """Two CPU processes (gloo): one set of checkpoints, one log, one exported bundle."""
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "-m", "cyclegan_fx", "train", str(dataset), "--name", "ddp-test",
         "--runs-dir", str(tmp_path), *[o for o in TINY if o != "--no-auto-export"], "--max-steps", "3",
         "--num-workers", "0", "--device", "cpu"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("Training ddp-test from iteration 0") == 1
    _, state = load_latest(tmp_path / "ddp-test" / "checkpoints")
    assert state["position"]["step"] == 3 and len(state["ranks"]) == 2  # both ranks' pools and RNG states
    assert set(ModelStore().get("ddp-test").info.directions) == {"a2b", "b2a"}


def test_training_decodes_images_as_apply_does(tmp_path, caplog):
    """16-bit, gray+alpha and EXIF-rotated files arrive upright as 8-bit RGB; an EPS is never opened;
    a file that fails to decode after scanning is replaced by the next one, with a warning."""
    from cyclegan_fx.io.image_write import save_image
    from cyclegan_fx.training.data import SampleKey, UnpairedImages, load_rgb, scan_folder, training_transform

    folder = tmp_path / "imgs"
    folder.mkdir()
    deep = (np.arange(40 * 48 * 3, dtype=np.uint16).reshape(40, 48, 3) * 37) % 65535
    save_image(folder / "deep.png", deep)
    assert np.array_equal(np.asarray(load_rgb(folder / "deep.png")), ((deep.astype(np.uint32) + 128) // 257).astype(np.uint8))
    gray_alpha = np.stack([np.full((40, 48), 90, np.uint8), np.full((40, 48), 7, np.uint8)], axis=2)
    save_image(folder / "gray.png", gray_alpha)
    assert np.array_equal(np.asarray(load_rgb(folder / "gray.png")), np.full((40, 48, 3), 90, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.fromarray(crops("rocket", 1, 40, 5)[0][:, :32]).save(folder / "turned.jpg", exif=exif)
    assert load_rgb(folder / "turned.jpg").size == (40, 32)
    (folder / "vector.eps").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n")

    files = scan_folder(folder, 32, 1)
    assert sorted(f.path.name for f in files) == ["deep.png", "gray.png", "turned.jpg"]
    assert "vector.eps" in caplog.text

    png = (folder / "deep.png").read_bytes()
    (folder / "deep.png").write_bytes(png[: len(png) // 2])  # the header still reads; the pixels do not
    images = UnpairedImages(files, files, training_transform(TrainConfig(preprocess="crop", crop_size=32), 4), seed=0)
    broken = [f.path.name for f in files].index("deep.png")
    a, b = images[SampleKey(epoch=0, position=0, index_a=broken, index_b=broken)]
    assert a.shape == b.shape == (3, 32, 32) and "Training uses the next image instead" in caplog.text
