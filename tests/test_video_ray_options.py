"""`cyclegan-fx video`'s Ray options are refused, in one sentence, where they cannot apply (no Ray needed)."""

from __future__ import annotations

import numpy as np
from helpers import invoke
from PIL import Image


def test_ray_options_need_ray_and_a_video_file(tmp_path):
    code, text = invoke("video", tmp_path / "clip.mp4", "--actors", "2")
    assert code == 2 and "--address, --actors and --threads go with --ray." in text
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(frames / f"f{i:03d}.png")
    code, text = invoke("video", frames, "--ray")
    assert code == 2 and "--ray translates video files" in text
    assert sorted(p.name for p in frames.iterdir()) == ["f000.png", "f001.png", "f002.png"]
