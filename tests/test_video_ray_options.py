"""`cyclegan-fx video`'s Ray options are refused, in one sentence, where they cannot apply, and so are bad URIs
and destinations that cannot be written, before any Ray runtime starts."""

from __future__ import annotations

import numpy as np
import pytest
from clips import Clip, pan, write_clip
from helpers import invoke
from PIL import Image


def test_ray_options_need_ray_and_a_video_file(tmp_path):
    code, text = invoke("video", tmp_path / "clip.mp4", "--actors", "2")
    assert code == 2 and "--address, --actors, --threads and --work go with --ray." in text
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(frames / f"f{i:03d}.png")
    code, text = invoke("video", frames, "--ray")
    assert code == 2 and "--ray translates video files" in text
    assert sorted(p.name for p in frames.iterdir()) == ["f000.png", "f001.png", "f002.png"]


def test_bad_uris_and_unwritable_destinations_are_one_sentence_before_any_work(tmp_path):
    pytest.importorskip("pyarrow", reason="the ray extra is not installed")
    store = tmp_path / "store"
    store.mkdir()
    clip = write_clip(store / "clip.mkv", Clip(pan("coffee", 8)))
    before = clip.read_bytes()
    (store / "blocker").write_text("a file where a folder would go")
    uri = clip.as_uri()
    cases = {
        ("nosuch://bucket/clip.mkv",): "Error: Cannot open nosuch://bucket/clip.mkv: ",
        ((store / "gone.mkv").as_uri(),): f"Error: Cannot read {(store / 'gone.mkv').as_uri()}: no such file.",
        (store.as_uri(),): f"Error: Cannot read {store.as_uri()}: it is a folder, not a file.",
        (uri, "-o", "nosuch://bucket/out.mkv"): "Error: Cannot open nosuch://bucket/out.mkv: ",
        (uri, "-o", (store / "blocker" / "out.mkv").as_uri()):
            f"Error: {(store / 'blocker').as_uri()} is a file; the destination must be a folder.",
        (uri, "-o", tmp_path / "out.mkv", "--work", (store / "blocker").as_uri()):
            f"Error: Cannot create the work folder {(store / 'blocker').as_uri()}/.out.mkv.cyclegan-fx-work: "
            "not a directory.",
        (uri, "-o", uri, "--overwrite"): f"Error: The output {uri} is the input; choose another output.",
    }
    for args, message in cases.items():
        code, text = invoke("video", *args, "--ray", "--device", "cpu")
        errors = [line for line in text.splitlines() if line.startswith("Error: ")]
        assert code == 1 and len(errors) == 1 and errors[0].startswith(message), (args, text)
        assert "Traceback" not in text and "Cannot remove" not in text, (args, text)
    code, text = invoke("video", uri, "-o", tmp_path / "out.mkv")
    assert code == 2 and "URIs of object stores go with --ray" in text
    assert sorted(p.name for p in store.iterdir()) == ["blocker", "clip.mkv"] and clip.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
