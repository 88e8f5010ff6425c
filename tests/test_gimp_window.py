"""The interactive plug-in in the full GIMP 3 window (Xvfb in the Debian 13 chroot), driven with keys and a click.

One GIMP run (see gimp_window.py) opens Filters > CycleGAN > Modern to Vintage, types a strength and a
work size into its dialog and presses OK, undoes with one Ctrl+Z, opens the dialog again (remembered
values, New layer switched off) and presses OK, presses Cancel, and on a large image presses the
Cancel button beside the progress bar while the service runs the job. The tests compare what GIMP
then holds with `cyclegan-fx apply`, and ask the service what became of the job. The menu's and the
dialog's screenshots go to docs/ for the README. Skipped, with the reason, where the chroot cannot be had.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gimp_chroot
import numpy as np
import pytest
from gimp_helpers import ROOT, applied, cli, close, gimp_session, layer_pixels, serving
from PIL import Image

from cyclegan_fx.models import ModelStore

pytestmark = pytest.mark.heavy  # a real heavy component: the quick tier deselects it (-m "not heavy")

LABEL = "Modern to Vintage"  # the built-in model's menu label
TYPED = {"strength": "0.4", "work_size": "64"}  # what the user types into the dialog
SCREENSHOTS = {"menu.png": ROOT / "docs" / "gimp-menu.png", "dialog.png": ROOT / "docs" / "gimp-dialog.png"}


@pytest.fixture(scope="module")
def window(tmp_path_factory, photo):
    """Runs the GIMP window session once; yields its report and the folders."""
    root, work, home, out = gimp_session(tmp_path_factory, "gimp-window")
    ModelStore(home).names()  # the built-in model
    cli(home, "gimp", "install", "--gimp-dir", work / "gimp3")
    small, big = work / "small.png", work / "big.png"
    Image.fromarray(photo[100:212, 150:310]).save(small)
    Image.fromarray(photo).resize((2400, 1600), Image.BICUBIC).save(big)  # full resolution: long enough to cancel
    job = {"out_dir": str(out), "home": str(home), "small": str(small), "big": str(big), "label": LABEL, **TYPED}
    (work / "job.json").write_text(json.dumps(job))
    for helper in ("gimp_window.py", "gimp_batch.py"):
        shutil.copy(Path(__file__).with_name(helper), work / helper)
    env = {"GIMP3_DIRECTORY": str(work / "gimp3"), "CYCLEGAN_FX_HOME": str(home), "CFX_GIMP_JOB": str(work / "job.json")}
    with serving(home, work / "serve.log"):
        done = gimp_chroot.run_gimp(root, work / "gimp_window.py", [work], env, timeout=900, window=True)
    assert done.returncode == 0 and (out / "report.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return {"report": json.loads((out / "report.json").read_text()), "small": small, "home": home, "work": work,
            "out": out}


def pixels(window, step: str) -> list[np.ndarray]:
    """The image's layers after ``step``, top first."""
    return [layer_pixels(layer) for layer in window["report"][step]]


def test_the_menu_entry_opens_the_dialog_named_after_the_model(window):
    assert window["report"]["dialog_title"] == LABEL
    assert [layer["name"] for layer in window["report"]["ok"]] == [LABEL, "Background"]


def test_ok_makes_a_new_layer_equal_to_apply_with_the_typed_values(window):
    new, source = pixels(window, "ok")
    original, = pixels(window, "original")
    close(new, applied(window, window["small"], "--strength", TYPED["strength"], "--work-size", TYPED["work_size"]), 1)
    close(source, original, 0)
    assert np.abs(new.astype(int) - applied(window, window["small"])).max() > 20  # the typed strength counted


def test_one_ctrl_z_undoes_the_whole_change(window):
    restored, = pixels(window, "undone")  # one layer again
    close(restored, pixels(window, "original")[0], 0)


def test_the_dialog_remembers_the_last_values(window):
    changed, = pixels(window, "again")  # New layer switched off: the layer itself changed
    close(changed, applied(window, window["small"], "--strength", TYPED["strength"], "--work-size", TYPED["work_size"]), 1)


def test_cancel_leaves_the_image_unchanged(window):
    unchanged, = pixels(window, "cancelled")
    close(unchanged, pixels(window, "original")[0], 0)


def test_cancel_on_the_progress_bar_stops_the_job_and_leaves_the_image(window):
    report = window["report"]
    stopped = report["stopped"]
    assert stopped["job"] == report["running"]["job"] and stopped["state"] == "cancelled"
    assert stopped["tiles_done"] < stopped["tiles_total"]
    after, = pixels(window, "big_after")
    close(after, pixels(window, "big_before")[0], 0)


def test_the_screenshots_for_the_readme(window):
    readme = (ROOT / "README.md").read_text()
    for name, target in SCREENSHOTS.items():
        shot = Image.open(window["out"] / name)
        assert shot.width > 300 and shot.height > 150 and np.unique(np.asarray(shot.convert("L"))).size > 20  # not blank
        target.parent.mkdir(exist_ok=True)
        shutil.copy(window["out"] / name, target)
        assert target.stat().st_size < 100_000 and f"docs/{target.name}" in readme
