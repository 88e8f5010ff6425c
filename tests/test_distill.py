"""Distillation of the real vintage generator into small students: the run, its resume, the report, the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DATA, crops, invoke, write_folder
from PIL import Image

from cyclegan_fx.distill.compare import compare
from cyclegan_fx.distill.config import DistillConfig
from cyclegan_fx.distill.crops import CropPlan
from cyclegan_fx.models import ModelStore
from cyclegan_fx.models.store import cache_home
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import RunOptions
from cyclegan_fx.training.checkpoint import load_latest
from cyclegan_fx.training.data import scan_folder

CROP = 64
TINY = ["--width", "8", "--blocks", "2", "--crop-size", CROP, "--pool", "12", "--log-every", "2",
        "--sample-every", "0", "--checkpoint-every", "4", "--min-scale", "0.25", "--max-scale", "0.5"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Training photos (two real photos at full size) and one held-out crop of a third."""
    root = tmp_path_factory.mktemp("photos")
    train = root / "train"
    train.mkdir()
    for name in ("astronaut", "rocket"):
        Image.open(DATA / f"{name}.jpg").save(train / f"{name}.png")
    held = write_folder(root / "held", crops("coffee", 1, 96, 0))
    return {"train": train, "held": held}


@pytest.fixture(scope="module")
def distilled(photos, tmp_path_factory) -> dict:
    """One finished run through the CLI, with a quality report on the held-out crop."""
    runs = tmp_path_factory.mktemp("runs")
    code, output = invoke("distill", "vintage", "--data", photos["train"], "--eval", photos["held"], "--name", "vfast",
                          "--runs-dir", runs, "--steps", 8, *TINY)
    assert code == 0, output
    return {"run": runs / "vfast", "output": output, "model": ModelStore().get("vfast")}


def test_the_student_lands_in_the_store_labelled_after_its_teacher_with_its_provenance(distilled):
    model = distilled["model"]
    teacher = ModelStore().get("vintage")
    assert model.info.label == "Modern to Vintage (fast)"
    assert model.info.work_size == teacher.info.work_size and model.info.training_size == CROP
    origin = model.info.provenance["a2b"]
    assert origin["teacher_sha256"] == teacher.info.directions["a2b"].sha256
    assert origin["steps"] == 8 and "SSIM" in origin["loss"] and origin["data"].endswith("train")
    assert origin["student"] == "compact" and origin["start"] == "a fresh initialization"
    quality = origin["quality"]
    assert quality["photos"] == 1 and 0 < quality["ssim_full"] <= 1 and quality["teacher_s_per_mp"] > 0
    code, shown = invoke("models", "info", "vfast")
    assert code == 0 and json.loads(shown)["provenance"]["a2b"]["quality"]["psnr_full"] == quality["psnr_full"]
    architecture = model.info.directions["a2b"].architecture
    assert architecture["name"] == "compact" and architecture["params"]["channels"] == 8
    assert architecture["params"]["n_blocks"] == 2


def test_the_run_leaves_a_sample_grid_and_a_loss_curve(distilled):
    run = distilled["run"]
    grid = Image.open(sorted((run / "samples").glob("step_*.png"))[-1])
    assert grid.size == (3 * (CROP + 2) + 2, 4 * (CROP + 2) + 2)  # input | teacher | student, four crops
    assert Image.open(run / "losses.png").size[0] > 0
    rows = (run / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,lr,loss,l1,structure" and rows[-1].startswith("8,")


def test_the_student_runs_through_apply_and_tiles_exactly(distilled, tmp_path, photo):
    code, output = invoke("apply", DATA / "coffee.jpg", "-m", "vfast", "-o", tmp_path / "out.png")
    assert code == 0, output
    assert Image.open(tmp_path / "out.png").size == Image.open(DATA / "coffee.jpg").size
    runner = open_runner(distilled["model"], "a2b", "cpu", "fp32", "torch")
    whole = runner.run(photo, RunOptions(tile=0)).astype(np.int16)
    tiled = runner.run(photo, RunOptions(tile=96)).astype(np.int16)
    assert np.abs(whole - tiled).max() <= 1


def test_the_quality_report_equals_an_independent_computation(distilled, photos):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    student, teacher = distilled["model"], ModelStore().get("vintage")
    photo = sorted(photos["held"].iterdir())[0]
    report = compare(student, teacher, [photo], "a2b", "cpu")
    image = np.asarray(Image.open(photo))
    ours = [open_runner(m, "a2b", "cpu", "auto", "torch").run(image, RunOptions(work_size="full")) for m in (student, teacher)]
    expected_psnr = peak_signal_noise_ratio(ours[1], ours[0], data_range=255)
    expected_ssim = structural_similarity(ours[1], ours[0], data_range=255, channel_axis=2, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False)
    score = report.images[0]
    assert score.psnr_full == pytest.approx(expected_psnr, abs=2e-3)
    assert score.ssim_full == pytest.approx(expected_ssim, abs=2e-4)
    assert report.student_s_per_mp > 0 and report.speedup == report.teacher_s_per_mp / report.student_s_per_mp


@pytest.mark.parametrize("student", [TINY, [*TINY[4:], "--student", "factorised", "--width", "8"]],
                         ids=["compact", "factorised"])
def test_a_resumed_run_equals_an_uninterrupted_one(photos, tmp_path, student):
    """A factorised student is factorised from the teacher again on resume, then takes the checkpoint's weights."""
    options = ["vintage", "--data", photos["train"], "--runs-dir", tmp_path, "--steps", 6, "--no-auto-export", *student]
    assert invoke("distill", *options, "--name", "straight")[0] == 0
    code, output = invoke("distill", *options, "--name", "cut", "--max-steps", 3)
    assert code == 0, output
    code, output = invoke("distill", "--resume", tmp_path / "cut")
    assert code == 0 and "Resuming" in output, output
    (_, straight), (_, resumed) = (load_latest(tmp_path / n / "checkpoints") for n in ("straight", "cut"))
    assert resumed["position"] == straight["position"] == {"direction": 0, "step": 6}
    for name, weights in straight["students"][0]["net"].items():
        assert torch.equal(weights, resumed["students"][0]["net"][name]), name
    # The cut run also recorded the losses it had at step 3 when it stopped; every other record is the same.
    cut = (tmp_path / "cut" / "losses.csv").read_text().splitlines()
    assert [row for row in cut if not row.startswith("3,")] == (tmp_path / "straight" / "losses.csv").read_text().splitlines()


@pytest.mark.heavy
@pytest.mark.parametrize("student", ["compact", "resnet"])
def test_the_student_comes_closer_to_its_teacher(photos, tmp_path, student):
    """The L1 distance to the teacher's output falls well below where the fresh student starts."""
    code, output = invoke("distill", "vintage", "--data", photos["train"], "--runs-dir", tmp_path, "--name", "learns",
                          "--steps", 150, "--no-auto-export", "--student", student,
                          *[o if o != "2" else "10" for o in TINY])
    assert code == 0, output
    rows = [line.split(",") for line in (tmp_path / "learns" / "losses.csv").read_text().splitlines()[1:]]
    first, last = float(rows[0][4]), float(rows[-1][4])
    assert last < 0.6 * first, (first, last)


def test_a_factorised_student_starts_from_its_teachers_weights(photos, tmp_path):
    """At a learning rate too small to move it, the stored student is the factorised teacher: far closer to
    vintage than any fresh student (about 8 dB) and with its rank in the bundle."""
    code, output = invoke("distill", "vintage", "--data", photos["train"], "--eval", photos["held"], "--name", "vfact",
                          "--runs-dir", tmp_path, "--student", "factorised", "--width", "32", "--steps", 2,
                          "--lr", "1e-12", *TINY[4:])
    assert code == 0, output
    model = ModelStore().get("vfact")
    architecture = model.info.directions["a2b"].architecture
    assert architecture["name"] == "resnet" and architecture["params"]["rank"] == 32
    assert architecture["params"]["n_blocks"] == 9 and architecture["params"]["ngf"] == 64
    origin = model.info.provenance["a2b"]
    assert origin["student"] == "factorised" and "teacher's weights" in origin["start"]
    assert origin["quality"]["psnr_full"] >= 22


def test_only_a_resnet_teacher_can_be_factorised(distilled, photos, tmp_path):
    code, output = invoke("distill", "vfast", "--data", photos["train"], "--name", "bad", "--runs-dir", tmp_path,
                          "--student", "factorised", "--steps", 2, *TINY[4:])
    assert code != 0 and "needs a ResNet teacher, not compact" in output and "Traceback" not in output, output
    assert not (tmp_path / "bad").exists() and "bad" not in ModelStore().names()


def test_a_second_student_reuses_the_cached_teacher_outputs(distilled, photos, tmp_path):
    assert "Computing the teacher's output for 12 of 12 crops" in distilled["output"]
    code, output = invoke("distill", "vintage", "--data", photos["train"], "--runs-dir", tmp_path, "--name", "other",
                          "--steps", 2, "--no-auto-export", *TINY, "--width", "4")
    assert code == 0 and "Computing the teacher's output" not in output, output


def test_a_photo_smaller_than_a_crop_is_reported_once(photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(photos["train"] / "astronaut.png").save(folder / "astronaut.png")
    Image.new("RGB", (CROP // 2, CROP // 2)).save(folder / "tiny.png")
    code, output = invoke("distill", "vintage", "--data", folder, "--runs-dir", tmp_path / "runs", "--name", "once",
                          "--steps", 1, "--no-auto-export", *TINY)
    assert code == 0, output
    assert output.count("tiny.png") == 1, output


def test_crops_depend_only_on_the_seed_and_their_index(photos):
    files = scan_folder(photos["train"], CROP, 1)
    plan = CropPlan(files, CROP, 1024, 0.25, 1.0, 1.0, seed=3, crops_per_view=4)
    again = CropPlan(files, CROP, 1024, 0.25, 1.0, 1.0, seed=3, crops_per_view=4)
    assert all(plan.spec(i) == again.spec(i) and plan.view(i).size == again.view(i).size
               and np.array_equal(plan.view(i).colour, again.view(i).colour) for i in range(20))
    other = CropPlan(files, CROP, 1024, 0.25, 1.0, 1.0, seed=4, crops_per_view=4)
    assert [plan.view(j).size for j in range(5)] != [other.view(j).size for j in range(5)]
    assert [plan.spec(i).view for i in range(12)] == [0] * 4 + [1] * 4 + [2] * 4
    for i in range(50):
        spec = plan.spec(i)
        width, height = plan.view(spec.view).size
        assert 0 <= spec.left <= width - CROP and 0 <= spec.top <= height - CROP


def test_a_crop_is_cut_from_the_view_and_the_view_from_the_photo(photos):
    files = scan_folder(photos["train"], CROP, 1)
    plain = CropPlan(files, CROP, None, 1.0, 1.0, 0.0, seed=0, crops_per_view=8)
    view = plain.view(0)
    assert np.allclose(view.colour, np.eye(3)) and view.size == files[view.file].size
    (index, crops), = plain.by_view([0, 1]).items()
    rendered = plain.render_view(index)
    source = np.asarray(Image.open(files[view.file].path).convert("RGB"))
    assert np.array_equal(rendered, source[:, ::-1] if view.flip else source)
    assert [i for i, _ in crops] == [0, 1]
    spec = crops[1][1]
    assert np.array_equal(plain.cut(rendered, spec), rendered[spec.top:spec.top + CROP, spec.left:spec.left + CROP])


def test_the_cached_targets_are_the_teachers_output_on_the_whole_view_not_on_the_crop(distilled, photos):
    files = scan_folder(photos["train"], CROP, 1)
    plan = CropPlan(files, CROP, 1024, 0.25, 0.5, 0.0, seed=0, crops_per_view=8)
    view = plan.render_view(0)
    crop = plan.cut(view, plan.spec(0))
    folder, = (f for f in cache_home().joinpath("distill").iterdir()
               if np.array_equal(np.memmap(f / "inputs.u8", np.uint8, "r")[:crop.size].reshape(crop.shape), crop))
    targets = np.memmap(folder / "targets.f16", np.float16, "r").reshape(-1, 3, CROP, CROP)
    runner = open_runner(ModelStore().get("vintage"))
    whole = plan.cut(runner.run(view, RunOptions(work_size="full")), plan.spec(0))
    alone = runner.run(crop.copy(), RunOptions(work_size="full"))
    cached = np.round((targets[0].astype(np.float32).transpose(1, 2, 0) + 1) * 127.5)
    assert np.abs(cached - whole).max() <= 1
    assert np.abs(cached - alone.astype(np.float32)).mean() > 2  # a crop translated alone is another image


def _engine_teacher(tmp_path: Path) -> Path:
    from cyclegan_fx.export.cache import model_meta
    from cyclegan_fx.models import resolve_model
    from cyclegan_fx.runtime.pack import write_pack

    model = resolve_model("vintage")
    plan = tmp_path / "plan"
    plan.write_bytes(b"not a real plan")
    path = tmp_path / "vintage.engine"
    manifest = {"kind": "tensorrt", "precision": "fp16", "tile": 512, "batch": 2, "target": {},
                "model": model_meta(model, "a2b", model.generator("a2b")), "segments": []}
    write_pack(path, manifest, {"segment-00.plan": plan})
    return path


@pytest.mark.parametrize("case, expected", [
    ("unknown teacher", "No model named 'nope'"),
    ("engine teacher", "TensorRT engine, which holds no weights"),
    ("no data", "Say what to distill on"),
    ("empty data", "is empty"),
    ("photos smaller than a crop", "too small skipped"),
    ("no such direction", "has no b2a generator"),
    ("unwritable output", "Cannot create run folder"),
    ("cache over its bound", "lower --pool or raise --cache-mb"),
    ("no name", "Give the student a --name"),
    ("learning rate out of range", "--lr"),
    ("factorised with fewer blocks", "keeps every block of its teacher"),
    ("rank above the teacher's width", "--width 300 is above 256"),
])
def test_bad_input_is_one_sentence_and_leaves_nothing_behind(case, expected, photos, tmp_path):
    small = write_folder(tmp_path / "small", crops("coffee", 2, 48, 0))
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    teacher, data, extra, runs = "vintage", ["--data", photos["train"]], [], tmp_path / "runs"
    if case == "unknown teacher":
        teacher = "nope"
    elif case == "engine teacher":
        teacher = str(_engine_teacher(tmp_path))
    elif case == "no data":
        data = []
    elif case == "empty data":
        data = ["--data", tmp_path / "empty"]
    elif case == "photos smaller than a crop":
        data = ["--data", small]
    elif case == "no such direction":
        extra = ["--data-b", photos["train"]]
    elif case == "unwritable output":
        runs = tmp_path / "a-file" / "runs"
    elif case == "cache over its bound":
        extra = ["--pool", "100000", "--cache-mb", "100"]
    elif case == "learning rate out of range":
        extra = ["--lr", "1e38"]
    elif case == "factorised with fewer blocks":
        extra = ["--student", "factorised", "--blocks", "2"]
    elif case == "rank above the teacher's width":
        extra = ["--student", "factorised", "--width", "300"]
    name = [] if case == "no name" else ["--name", "bad"]
    code, output = invoke("distill", teacher, *data, *name, "--runs-dir", runs, "--steps", 2, *extra)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code != 0 and expected in output and "Traceback" not in output, output
    # a warning about skipped files may come first; the error itself is one sentence on one line
    assert lines[-1].startswith("Error: ") and sum(line.startswith("Error: ") for line in lines) == 1, output
    assert not (tmp_path / "runs" / "bad").exists() and "bad" not in ModelStore().names()


def test_a_loss_that_is_no_longer_a_number_stops_the_run_before_any_checkpoint(photos, tmp_path):
    """A damaged teacher cache (NaN targets) makes the loss NaN: one sentence, no checkpoint, no model."""
    options = ["vintage", "--data", photos["train"], "--runs-dir", tmp_path, "--no-auto-export", *TINY, "--seed", "5"]
    code, output = invoke("distill", *options, "--name", "fills", "--steps", 1)
    assert code == 0, output
    targets = max(cache_home().glob("distill/*/targets.f16"), key=lambda path: path.stat().st_mtime_ns)
    np.memmap(targets, dtype=np.float16, mode="r+")[:] = np.nan
    code, output = invoke("distill", *options, "--name", "diverges", "--steps", 4, "--checkpoint-every", 1)
    assert code == 1 and "diverged at step 1" in output and "Traceback" not in output, output
    assert not list((tmp_path / "diverges" / "checkpoints").glob("*.pt"))


def test_a_step_whose_gradient_is_not_finite_is_skipped_and_the_schedule_goes_on(caplog):
    """A finite loss with an infinite gradient (one parameter's, forced here by a hook) leaves the weights as they were."""
    from cyclegan_fx.distill.loop import distill_step, make_student
    from cyclegan_fx.networks import build_generator
    from cyclegan_fx.networks.compact import CompactConfig
    from cyclegan_fx.training.distributed import World

    config = DistillConfig(steps=10, warmup=0.0)
    spec = build_generator("compact", CompactConfig(channels=8, n_blocks=1)).spec()
    student = make_student(config, spec, "a2b", torch.device("cpu"), World(), None)
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    before = {k: v.clone() for k, v in student.generator.net.state_dict().items()}
    hook = student.generator.net.head[1].bias.register_hook(lambda grad: grad * float("inf"))
    losses = distill_step(student, x, y, config, None)
    hook.remove()
    after = student.generator.net.state_dict()
    assert torch.isfinite(losses["loss"]) and all(torch.equal(before[k], after[k]) for k in before)
    assert student.sched.last_epoch == 1 and "gradient is not finite" in caplog.text
    distill_step(student, x, y, config, None)
    changed = student.generator.net.state_dict()
    assert all(torch.isfinite(v).all() for v in changed.values()) and not torch.equal(before["head.1.bias"], changed["head.1.bias"])


@pytest.mark.heavy
def test_torchrun_distills_with_ddp_and_only_rank_0_writes(photos, tmp_path):
    """Two CPU processes (gloo): each computes half of the teacher cache, rank 0 writes one run and one bundle."""
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "-m", "cyclegan_fx", "distill", "vintage", "--data", str(photos["train"]),
         "--name", "ddp-student", "--runs-dir", str(tmp_path), "--steps", "4", "--device", "cpu",
         *[str(o) for o in TINY], "--pool", "10"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("Distilling a2b: step 0 of 4") == 1
    _, state = load_latest(tmp_path / "ddp-student" / "checkpoints")
    assert state["world_size"] == 2 and state["position"] == {"direction": 0, "step": 4}
    assert ModelStore().get("ddp-student").info.label == "Modern to Vintage (fast)"


def test_a_config_saved_with_the_run_builds_the_same_configuration(tmp_path):
    config = DistillConfig(teacher="vintage", data=tmp_path, name="x", width=12).absolute()
    assert DistillConfig.from_dict(config.to_dict()) == config

