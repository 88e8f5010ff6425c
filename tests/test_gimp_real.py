"""The plug-in in a real GIMP 3 (headless, in a Debian 13 chroot), against `cyclegan-fx apply`.

The plug-in is installed with `cyclegan-fx gimp install`, `cyclegan-fx serve` runs on this machine,
and one GIMP batch run executes every case (see gimp_batch.py); the tests then compare what GIMP
holds with what `cyclegan-fx apply` writes for the same pixels. A second, short run has no service
running: the plug-in starts the recorded cyclegan-fx itself, as on a first click (this Python is
bind-mounted into the chroot at its own path for that). Skipped, with the reason, where the chroot
cannot be had (not root, no Debian registry).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import cv2
import gimp_chroot
import numpy as np
import pytest
from gimp_helpers import ROOT, applied, cli, close, gimp_session, layer_pixels, serving
from helpers import tiny_generator
from PIL import Image

from cyclegan_fx.models import ModelStore
from cyclegan_fx.serve import read_endpoint

pytestmark = pytest.mark.heavy  # a real heavy component: the quick tier deselects it (-m "not heavy")

SELECTION = (40, 30, 64, 48)  # x, y, width, height in image coordinates
OFFSETS = (12, 8)
FEATHER = (32, 24, 96, 64, 24)  # a rectangle and a feather radius


def make_inputs(folder: Path, photo: np.ndarray) -> dict[str, Path]:
    paths = {name: folder / f"{name}.png" for name in ("rgb", "rgba16", "gray", "selection")}
    Image.fromarray(photo[100:212, 150:310]).save(paths["rgb"])
    rgb16 = photo[50:146, 300:428].astype(np.uint16) * 257 + np.arange(128, dtype=np.uint16)[None, :, None]
    alpha = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (96, 1))
    cv2.imwrite(str(paths["rgba16"]), cv2.cvtColor(np.dstack([rgb16, alpha]), cv2.COLOR_RGBA2BGRA))
    Image.fromarray(photo[200:296, 50:178]).convert("L").save(paths["gray"])
    Image.fromarray(photo[250:362, 400:560]).save(paths["selection"])
    return paths


def cases(paths: dict[str, Path]) -> list[dict]:
    vintage = "cyclegan-fx-vintage-a2b"
    return [
        {"id": "rgb", "input": str(paths["rgb"]), "procedure": vintage, "offsets": list(OFFSETS)},
        {"id": "rgba16", "input": str(paths["rgba16"]), "procedure": vintage, "args": {"strength": 0.6}},
        {"id": "gray", "input": str(paths["gray"]), "procedure": vintage, "args": {"work-size": "64"}},
        {"id": "selection", "input": str(paths["selection"]), "procedure": vintage, "select": list(SELECTION),
         "args": {"new-layer": False}},
        {"id": "feather", "input": str(paths["selection"]), "procedure": vintage, "select": list(FEATHER[:4]),
         "feather": FEATHER[4], "args": {"new-layer": False}},
        {"id": "float", "input": str(paths["rgb"]), "procedure": vintage, "precision": "FLOAT_NON_LINEAR"},
        {"id": "b2a", "input": str(paths["rgb"]), "procedure": "cyclegan-fx-gimp-s2w-b2a"},
        {"id": "group", "input": str(paths["rgb"]), "procedure": vintage, "make": "group"},
        {"id": "indexed", "input": str(paths["rgb"]), "procedure": vintage, "make": "indexed"},
        {"id": "bad-work-size", "input": str(paths["rgb"]), "procedure": vintage, "args": {"work-size": "huge"}},
    ]


@pytest.fixture(scope="module")
def gimp(tmp_path_factory, photo):
    """Runs GIMP once over every case; yields the report, the inputs and the apply outputs' folder."""
    root, work, home, out = gimp_session(tmp_path_factory, "gimp-real")
    store = ModelStore(home)
    store.names()  # the built-in model
    store.add_generator("gimp_s2w", tiny_generator(seed=3), "a2b", "Summer to Winter")
    store.add_generator("gimp_s2w", tiny_generator(seed=4), "b2a")
    cli(home, "gimp", "install", "--gimp-dir", work / "gimp3")
    with serving(home, work / "serve.log"):
        paths = make_inputs(work, photo)
        report = run_gimp_job(root, work, home, out, cases(paths), [work])
    return {"report": report, "inputs": paths, "home": home, "work": work}


@pytest.fixture(scope="module")
def first_click(tmp_path_factory, photo):
    """GIMP with no service running: the plug-in starts `cyclegan-fx serve` (inside the chroot)."""
    reason = gimp_chroot.unavailable_reason()
    if reason:
        pytest.skip(reason)
    python = gimp_chroot.shareable_python()
    if python is None:
        pytest.skip(f"this Python ({sys.base_prefix}) is installed under /usr and cannot be shared with the chroot")
    root = gimp_chroot.ensure_rootfs()
    work = tmp_path_factory.mktemp("gimp-first-click")
    home = work / "home"
    ModelStore(home).names()
    cli(home, "gimp", "install", "--gimp-dir", work / "gimp3")
    image = work / "rgb.png"
    Image.fromarray(photo[40:136, 200:328]).save(image)
    case = {"id": "first", "input": str(image), "procedure": "cyclegan-fx-vintage-a2b", "args": {"work-size": "64"}}
    started = []
    report = run_gimp_job(root, work, home, work, [case], [work, ROOT, *python],
                          before_unmount=lambda: started.append(stop_started_service(home)))
    return {"report": report["cases"]["first"], "image": image, "home": home, "work": work, "service": started[0]}


def run_gimp_job(root: Path, work: Path, home: Path, out: Path, job_cases: list[dict], mounts: list[Path], **kwargs) -> dict:
    """Run the cases in GIMP inside the chroot (tests/gimp_batch.py); the report it writes into ``out``."""
    (work / "job.json").write_text(json.dumps({"out_dir": str(out), "cases": job_cases}))
    shutil.copy(Path(__file__).with_name("gimp_batch.py"), work / "gimp_batch.py")
    env = {"GIMP3_DIRECTORY": str(work / "gimp3"), "CYCLEGAN_FX_HOME": str(home),
           "CFX_GIMP_JOB": str(work / "job.json")}
    done = gimp_chroot.run_gimp(root, work / "gimp_batch.py", mounts, env, timeout=600, **kwargs)
    assert done.returncode == 0 and (out / "report.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def stop_started_service(home: Path):
    """Stop the service the plug-in started (it runs inside the chroot); its endpoint, or None."""
    endpoint = read_endpoint(home)
    if endpoint is None:
        return None
    os.kill(endpoint.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while gimp_chroot.process_running(endpoint.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return endpoint


def case(gimp, name: str) -> dict:
    result = gimp["report"]["cases"][name]
    assert result["status"] == "success", result["error"]
    return result


def test_menu_has_one_entry_per_model_and_direction(gimp):
    found = {p["name"]: p for p in gimp["report"]["procedures"]}
    assert {n: p["label"] for n, p in found.items()} == {
        "cyclegan-fx-vintage-a2b": "Modern to Vintage",
        "cyclegan-fx-gimp-s2w-a2b": "Summer to Winter",
        "cyclegan-fx-gimp-s2w-b2a": "Winter to Summer",
    }
    vintage = found["cyclegan-fx-vintage-a2b"]
    assert vintage["menu_paths"] == ["<Image>/Filters/CycleGAN"] and vintage["image_types"] == "RGB*, GRAY*"
    assert vintage["arguments"][-3:] == ["strength", "work-size", "new-layer"]


def test_rgb_gets_a_new_layer_equal_to_apply(gimp):
    result = case(gimp, "rgb")
    new, source = result["layers"]
    assert new["name"] == "Modern to Vintage" and source["name"] != new["name"]
    assert new["offsets"] == source["offsets"] == list(OFFSETS)
    original = np.asarray(Image.open(gimp["inputs"]["rgb"]))
    close(layer_pixels(new), applied(gimp, gimp["inputs"]["rgb"]), 1)
    close(layer_pixels(source), original, 0)  # the source layer is untouched
    assert np.abs(layer_pixels(new).astype(int) - original).max() > 20  # it did translate


def test_sixteen_bit_alpha_stays_sixteen_bit(gimp):
    result = case(gimp, "rgba16")
    assert result["precision"] == "u16-non-linear"
    new = result["layers"][0]
    assert new["format"] == "R'G'B'A u16"
    pixels = layer_pixels(new)
    expected = applied(gimp, gimp["inputs"]["rgba16"], "--strength", "0.6")
    assert expected.dtype == np.uint16
    close(pixels, expected, 2)
    close(pixels[:, :, 3], layer_pixels(result["layers"][1])[:, :, 3], 0)  # alpha untouched
    assert len(np.unique(pixels[:, :, :3] % 257)) > 10  # not a round trip through 8 bits


def test_grayscale_stays_gray(gimp):
    result = case(gimp, "gray")
    assert result["base_type"] == "gray" and result["layers"][0]["format"] == "Y' u8"
    close(layer_pixels(result["layers"][0]), applied(gimp, gimp["inputs"]["gray"], "--work-size", "64"), 1)


def test_selection_changes_only_its_inside_and_there_equals_apply_on_the_whole_layer(gimp):
    result = case(gimp, "selection")
    assert len(result["layers"]) == 1  # changed in place
    pixels = layer_pixels(result["layers"][0])
    original = np.asarray(Image.open(gimp["inputs"]["selection"]))
    expected = applied(gimp, gimp["inputs"]["selection"])
    x, y, w, h = SELECTION
    inside = np.zeros(original.shape[:2], bool)
    inside[y:y + h, x:x + w] = True
    close(pixels[inside][None], expected[inside][None], 1)
    assert np.array_equal(pixels[~inside], original[~inside])


def test_a_feathered_selection_blends(gimp):
    pixels = layer_pixels(case(gimp, "feather")["layers"][0]).astype(float)
    original = np.asarray(Image.open(gimp["inputs"]["selection"])).astype(float)
    expected = applied(gimp, gimp["inputs"]["selection"]).astype(float)
    x, y, w, h, radius = FEATHER
    close(pixels[y + h // 2, x + w // 2][None, None], expected[y + h // 2, x + w // 2][None, None], 1)  # centre
    close(pixels[:4, :4], original[:4, :4], 0)  # far outside
    edge = pixels[y + h // 2, x - 2:x + 3]  # across the left edge: between the two
    weight = (edge - original[y + h // 2, x - 2:x + 3]) / (expected[y + h // 2, x - 2:x + 3] - original[y + h // 2, x - 2:x + 3] + 1e-9)
    changed = np.abs(expected[y + h // 2, x - 2:x + 3] - original[y + h // 2, x - 2:x + 3]) > 20
    assert changed.any() and np.all((weight[changed] > 0.05) & (weight[changed] < 0.95)), weight


def test_float_images_stay_float(gimp):
    result = case(gimp, "float")
    assert result["precision"] == "float-non-linear" and result["layers"][0]["format"] == "R'G'B' float"
    pixels = layer_pixels(result["layers"][0])
    rgb = layer_pixels(case(gimp, "rgb")["layers"][0])
    close(pixels * 255, rgb, 1.5)
    fraction = np.abs(pixels * 255 - np.round(pixels * 255)) > 0.01
    assert fraction.mean() > 0.5  # not quantized to 8 bits


def test_the_reverse_direction_runs_its_own_generator(gimp):
    result = case(gimp, "b2a")
    assert result["layers"][0]["name"] == "Winter to Summer"
    expected = applied(gimp, gimp["inputs"]["rgb"], "-m", "gimp_s2w", "-d", "b2a")
    close(layer_pixels(result["layers"][0]), expected, 1)


@pytest.mark.parametrize("name,message", [
    ("group", "cannot change a layer group"),
    ("indexed", "convert this indexed image"),
    ("bad-work-size", "Work size must be"),
])
def test_refusals_are_one_readable_message(gimp, name, message):
    result = gimp["report"]["cases"][name]
    assert result["status"] == "execution-error" and message in result["error"]
    assert "Traceback" not in result["error"] and "\n" not in result["error"]


def test_first_click_starts_the_recorded_service(first_click):
    result = first_click["report"]
    assert result["status"] == "success", result["error"]
    endpoint = first_click["service"]
    assert endpoint is not None and endpoint.pid != os.getpid()
    assert "Serving at" in (first_click["home"] / "serve.log").read_text()
    assert not (first_click["home"] / "serve.json").exists()  # stopped cleanly
    expected = applied(first_click, first_click["image"], "--work-size", "64")
    close(layer_pixels(result["layers"][0]), expected, 1)
