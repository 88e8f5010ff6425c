"""The GIMP plug-in's parts that need no GIMP, per-direction menu labels, and `cyclegan-fx gimp install`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import invoke, tiny_generator

from cyclegan_fx.gimp import gimp_user_dir
from cyclegan_fx.models import ModelStore, read_bundle
from cyclegan_fx.models.bundle import reverse_label
from cyclegan_fx.runners.factory import open_runner
from cyclegan_fx.runtime.config import RunOptions

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "gimp" / "cyclegan-fx"
sys.path.insert(0, str(PLUGIN))
import cyclegan_fx_gimp as core  # noqa: E402


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(tiny_generator().net.state_dict(), path)
    return path


LABELS = [
    ("Summer to Winter", "Winter to Summer"),
    ("photo TO painting", "painting TO photo"),
    ("  Day to Night  ", "Night to Day"),
    ("Horses to striped zebras", "striped zebras to Horses"),
    ("Vintage look", "m (reverse)"),
    ("A to B to C", "m (reverse)"),
    ("Toronto", "m (reverse)"),
]


@pytest.mark.parametrize("label,reverse", LABELS)
def test_b2a_label_defaults_to_the_reverse_in_both_implementations(label, reverse):
    assert reverse_label(label, "m") == reverse
    assert core.reverse_label(label, "m") == reverse  # the plug-in's copy of the rule agrees


def test_labels_of_both_directions_through_the_cli(tiny_checkpoint):
    code, out = invoke("models", "import", tiny_checkpoint, "--name", "lab-s2w", "--label", "Summer to Winter")
    assert code == 0, out
    code, out = invoke("models", "import", tiny_checkpoint, "--name", "lab-s2w", "--direction", "b2a")
    assert code == 0, out
    info = ModelStore().get("lab-s2w").info
    assert (info.menu_label("a2b"), info.menu_label("b2a")) == ("Summer to Winter", "Winter to Summer")
    code, out = invoke("models", "label", "lab-s2w", "Snow to Sun", "--direction", "b2a")
    assert code == 0 and "Snow to Sun" in out
    code, out = invoke("models", "list")
    assert "Summer to Winter / Snow to Sun" in out
    manifest = json.loads((ModelStore().models_dir / "lab-s2w" / "model.json").read_text())
    assert manifest["label"] == "Summer to Winter" and manifest["label_b2a"] == "Snow to Sun"
    code, out = invoke("models", "import", tiny_checkpoint, "--name", "lab-two", "--label", "Day to Night",
                       "--label-b2a", "Morning")
    assert code == 0 and ModelStore().get("lab-two").info.menu_label("b2a") == "Morning"
    code, out = invoke("models", "label", "lab-s2w", "  ")
    assert code == 1 and "cannot be empty" in out
    code, out = invoke("models", "label", "no-such-model", "X")
    assert code == 1 and "No model named" in out


def test_model_json_without_a_b2a_label_still_reads(tmp_path):
    store = ModelStore(tmp_path)
    generator = tiny_generator()
    store.add_generator("old", generator, "a2b", "Photo to Monet")
    model = store.add_generator("old", generator, "b2a")
    manifest_path = model.path / "model.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["label_b2a"]  # as written before per-direction labels existed
    manifest_path.write_text(json.dumps(manifest))
    assert read_bundle(model.path).info.menu_label("b2a") == "Monet to Photo"
    specs = {s.direction: s for s in core.installed_procedures(tmp_path)}
    assert specs["b2a"].label == "Monet to Photo" and specs["a2b"].label == "Photo to Monet"


def test_training_sets_both_labels(dataset, tmp_path):
    tiny = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--preprocess", "crop", "--crop-size", "32",
            "--sample-every", "0", "--max-steps", "1", "--num-workers", "0"]
    code, out = invoke("train", dataset, "--name", "lab-trained", "--label", "Summer to Winter", "--runs-dir",
                       tmp_path, *tiny)
    assert code == 0, out
    assert ModelStore().get("lab-trained").info.menu_label("b2a") == "Winter to Summer"
    code, out = invoke("train", "--export", tmp_path / "lab-trained", "--label-b2a", "Thaw")
    assert code == 0, out
    info = ModelStore().get("lab-trained").info
    assert (info.menu_label("a2b"), info.menu_label("b2a")) == ("Summer to Winter", "Thaw")


def test_procedures_come_from_the_store_files(tmp_path):
    store = ModelStore(tmp_path)
    generator = tiny_generator()
    store.add_generator("my_model-2", generator, "a2b", "Summer to Winter", work_size=768)
    store.add_generator("my_model-2", generator, "b2a")
    store.add_generator("plain", generator, "b2a")
    broken = tmp_path / "models" / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    specs = sorted(core.installed_procedures(tmp_path), key=lambda s: s.name)
    assert [(s.name, s.label, s.work_size) for s in specs] == [
        ("cyclegan-fx-my-model-2-a2b", "Summer to Winter", 768),
        ("cyclegan-fx-my-model-2-b2a", "Winter to Summer", 768),
        ("cyclegan-fx-plain-b2a", "plain (reverse)", 1024),
    ]
    assert core.procedure_name("vintage", "a2b") == "cyclegan-fx-vintage-a2b"
    assert core.installed_procedures(tmp_path / "nowhere") == []


def test_store_home_rule_matches_the_package(monkeypatch, tmp_path):
    from cyclegan_fx.models import store_home

    for env in ({"CYCLEGAN_FX_HOME": str(tmp_path / "h")}, {"XDG_DATA_HOME": str(tmp_path / "x")}, {}):
        for name in ("CYCLEGAN_FX_HOME", "XDG_DATA_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert core.store_home() == store_home()


@pytest.mark.parametrize("precision,gray,alpha,babl,dtype,channels", [
    ("u8-non-linear", False, False, "R'G'B' u8", "uint8", 3),
    ("u8-perceptual", False, True, "R'G'B'A u8", "uint8", 4),
    ("u16-linear", True, False, "Y' u16", "uint16", 1),
    ("u16-non-linear", True, True, "Y'A u16", "uint16", 2),
    ("float-linear", False, True, "R'G'B'A float", "float32", 4),
    ("half-non-linear", False, False, "R'G'B' float", "float32", 3),
    ("u32-linear", True, False, "Y' float", "float32", 1),
    ("double-perceptual", False, False, "R'G'B' float", "float32", 3),
])
def test_layers_are_read_at_their_own_precision(precision, gray, alpha, babl, dtype, channels):
    assert core.pixel_format(precision, gray, alpha) == core.PixelFormat(babl, dtype, channels)


def test_work_size_argument():
    assert [core.parse_work_size(v) for v in ("model", " FULL ", "1536", "16")] == ["model", "full", 1536, 16]
    for bad in ("", "8", "-5", "big", "1.5"):
        with pytest.raises(core.PluginError, match="Work size must be"):
            core.parse_work_size(bad)


@pytest.mark.parametrize("host", ["little", "big"])
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_samples_travel_little_endian(monkeypatch, host, dtype):
    """Whatever the host's byte order, the bytes sent are little-endian (a big-endian host is simulated)."""
    monkeypatch.setattr(core.sys, "byteorder", host)
    values = np.arange(6).astype(dtype)
    native = values.astype(values.dtype.newbyteorder("<" if host == "little" else ">")).tobytes()
    assert core.little_endian(native, dtype) == values.astype(values.dtype.newbyteorder("<")).tobytes()


def test_gimp_user_folder_per_platform(tmp_path):
    assert gimp_user_dir({"GIMP3_DIRECTORY": str(tmp_path)}, "linux") == tmp_path
    assert gimp_user_dir({"XDG_CONFIG_HOME": "/c"}, "linux") == Path("/c/GIMP/3.0")
    assert gimp_user_dir({}, "linux") == Path.home() / ".config" / "GIMP" / "3.0"
    assert gimp_user_dir({"APPDATA": "C:/Users/u/AppData/Roaming"}, "win32") == Path(
        "C:/Users/u/AppData/Roaming/GIMP/3.0")
    assert gimp_user_dir({}, "darwin") == Path.home() / "Library" / "Application Support" / "GIMP" / "3.0"


def test_install_and_uninstall(tmp_path, monkeypatch):
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "gimp3"))
    code, out = invoke("gimp", "install")
    assert code == 0, out
    folder = tmp_path / "gimp3" / "plug-ins" / "cyclegan-fx"
    assert sorted(p.name for p in folder.iterdir()) == ["cyclegan-fx.py", "cyclegan_fx_gimp.py", "install.json"]
    assert os.access(folder / "cyclegan-fx.py", os.X_OK)
    assert (folder / "cyclegan-fx.py").read_bytes() == (PLUGIN / "cyclegan-fx.py").read_bytes()
    record = json.loads((folder / "install.json").read_text())
    assert record["python"] == sys.executable
    assert (Path(record["pythonpath"]) / "cyclegan_fx" / "__init__.py").is_file()
    assert "vintage" in [s.model for s in core.installed_procedures(ModelStore().home)]
    (folder / "cyclegan-fx.py").write_text("stale")
    code, out = invoke("gimp", "install", "--gimp-dir", tmp_path / "gimp3")  # again: replaces
    assert code == 0 and (folder / "cyclegan-fx.py").read_bytes() == (PLUGIN / "cyclegan-fx.py").read_bytes()
    assert [p.name for p in folder.parent.iterdir()] == ["cyclegan-fx"]  # no staging folders left
    code, out = invoke("gimp", "uninstall")
    assert code == 0 and not folder.exists() and "Removed" in out
    code, out = invoke("gimp", "uninstall")
    assert code == 0 and "not installed" in out


def test_plugin_imports_without_torch_or_numpy():
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import cyclegan_fx_gimp; "
            "bad = {'torch', 'numpy', 'cyclegan_fx'} & set(sys.modules); assert not bad, bad")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(PLUGIN)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_plugin_starts_the_service_on_demand_and_translates(tmp_path, monkeypatch, photo):
    """As a first click does: no service is running, so the plug-in starts the recorded cyclegan-fx."""
    home = tmp_path / "home"
    ModelStore(home).names()
    monkeypatch.setenv("CYCLEGAN_FX_HOME", str(home))
    code, out = invoke("gimp", "install", "--gimp-dir", tmp_path / "gimp3")
    assert code == 0, out
    plugin_dir = tmp_path / "gimp3" / "plug-ins" / "cyclegan-fx"
    client = core.connect(core.store_home(), plugin_dir)
    endpoint = core.read_endpoint(home)
    try:
        assert client.answers() and endpoint.pid != os.getpid()
        assert core.connect(core.store_home(), plugin_dir).endpoint == endpoint  # a second click reuses it
        spec = next(s for s in core.installed_procedures(home) if s.model == "vintage")
        rgb = np.ascontiguousarray(photo[:96, :128])
        pixels = core.Pixels(rgb.tobytes(), 96, 128, 3, "uint8")
        result, answer = core.translate(client, spec, pixels, 0.75, 64)
        assert answer["shape"] == [96, 128, 3] and answer["seconds"] > 0
        expected = open_runner(ModelStore(home).get("vintage"), "a2b", "auto").run(
            rgb, RunOptions(work_size=64, strength=0.75))
        np.testing.assert_array_equal(np.frombuffer(result, np.uint8).reshape(rgb.shape), expected)
        with pytest.raises(core.PluginError, match="No model named 'gone'"):
            core.translate(client, core.ProcedureSpec("x", "gone", "a2b", "Gone", None), pixels, 1.0, "model")
    finally:
        os.kill(endpoint.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while (home / "serve.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (home / "serve.json").exists()  # removed on exit
    assert "Serving at" in (home / "serve.log").read_text()


def test_a_service_that_cannot_start_is_one_sentence(tmp_path):
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    with pytest.raises(core.PluginError, match="does not know how to start"):
        core.connect(tmp_path / "home", plugin_dir)
    (plugin_dir / "install.json").write_text(json.dumps({"python": str(tmp_path / "no-python")}))
    with pytest.raises(core.PluginError, match="Cannot start the cyclegan-fx service"):
        core.connect(tmp_path / "home", plugin_dir)
    broken = tmp_path / "broken" / "cyclegan_fx"  # a cyclegan-fx whose service fails at start
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    (broken / "__main__.py").write_text("import sys; sys.exit('Error: no GPU and no luck.')")
    record = {"python": sys.executable, "pythonpath": str(broken.parent)}
    (plugin_dir / "install.json").write_text(json.dumps(record))
    with pytest.raises(core.PluginError, match="could not start: Error: no GPU and no luck."):
        core.connect(tmp_path / "home", plugin_dir, timeout=120)


def test_progress_follows_the_service(tmp_path, photo):
    from cyclegan_fx.serve import ServiceConfig, run_service

    home = tmp_path / "home"
    ModelStore(home).names()
    stop, ready = threading.Event(), threading.Event()
    config = ServiceConfig(home=home, device="cpu", options=RunOptions(tile=64))
    thread = threading.Thread(target=run_service, args=(config, stop, lambda e: ready.set()), daemon=True)
    thread.start()
    try:
        assert ready.wait(120)
        client = core.Client(core.read_endpoint(home))
        spec = core.ProcedureSpec("cyclegan-fx-vintage-a2b", "vintage", "a2b", "Modern to Vintage", 1024)
        rgb = np.ascontiguousarray(photo[:384, :384])
        seen: list[float] = []
        core.translate(client, spec, core.Pixels(rgb.tobytes(), 384, 384, 3, "uint8"), 1.0, "full", seen.append)
        assert seen == sorted(seen) and any(0 < f < 1 for f in seen), seen
    finally:
        stop.set()
        thread.join(60)
