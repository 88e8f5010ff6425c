"""Bad files of every kind go to failed/ beside a one-sentence reason, and the daemon goes on."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import tifffile
from PIL import Image
from watch_helpers import FAST, files_in, photo_bytes, run_once, save_tiny_model


def _bomb() -> bytes:
    """A valid PNG header claiming 60000 x 60000 pixels (3.6 gigapixels) in a file of 70 bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", 60000, 60000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _corrupt_png() -> bytes:
    data = bytearray(photo_bytes(1, fmt="PNG"))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    return bytes(data)


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _five_channels() -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((32, 32, 5), np.uint16), photometric="minisblack", planarconfig="contig")
    return buffer.getvalue()


BAD = {
    "empty.jpg": (b"", "the file is empty"),
    "truncated.jpg": (photo_bytes(0)[: len(photo_bytes(0)) // 2], "the image data is truncated"),
    "corrupt.png": (_corrupt_png(), "the image data is corrupt"),
    "letter.jpg": (b"Dear studio, this is a text file named like a photo.\n" * 20, "not an image file"),
    "animation.png": (_encoded(Image.new("RGB", (16, 16)), "GIF"), "not an image file"),
    "bomb.png": (_bomb(), "60000x60000 (3.6e+03 MP), over the 250 MP limit"),
    "five-channels.tif": (_five_channels(), "it has 5 channels; at most 4 are supported"),
    "sliver.png": (_encoded(Image.new("RGB", (4, 40)), "PNG"), "needs at least 8x8"),
}


def test_every_kind_of_bad_file_fails_alone_with_its_reason(tmp_path):
    model = save_tiny_model(tmp_path / "tiny.pth", seed=0)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, (data, _) in BAD.items():
        (inbox / name).write_bytes(data)
    good = {"first.jpg": photo_bytes(2), "last.png": photo_bytes(3, fmt="PNG")}
    for name, data in good.items():
        (inbox / name).write_bytes(data)

    code, out = run_once([inbox, "--settle", "0.1", "--model", model, *FAST], tmp_path / "log")

    assert code == 1 and f"{len(BAD)} file(s) failed" in out, out
    assert "Traceback" not in out
    assert {p.name for p in files_in(inbox / "out")} == set(good)
    assert {p.name for p in files_in(inbox / "done")} == set(good)
    assert {p.name for p in files_in(inbox / "failed")} == {n for name in BAD for n in (name, f"{name}.error.txt")}
    for name, (data, reason) in BAD.items():
        assert (inbox / "failed" / name).read_bytes() == data  # kept as it came
        text = (inbox / "failed" / f"{name}.error.txt").read_text()
        assert reason in text, text
        assert text.endswith(".\n") and text.count("\n") == 1 and str(tmp_path) not in text  # one sentence
        assert sum(f"{name} FAILED -> failed/{name}:" in line for line in out.splitlines()) == 1, out
    assert files_in(inbox / ".cyclegan-fx" / "processing") == []
