"""Image files: formats, bit depths, channels, metadata, orientation, and every kind of bad input or output."""

from __future__ import annotations

import errno
import io
import logging
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from cyclegan_fx.errors import ImageReadError, ImageTooLargeError, OutputError
from cyclegan_fx.io import image_write
from cyclegan_fx.io.image_format import SUPPORTED_SUFFIXES, ImageMeta
from cyclegan_fx.io.image_read import image_size, load_image
from cyclegan_fx.io.image_write import save_image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "images"
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
PEAK = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    """Conversion warnings are logged once per process; every test starts from none logged."""
    image_write._warn_once.cache_clear()


def noise(h: int, w: int, c: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """Random pixels over the dtype's full range (float32: 0..1)."""
    rng = np.random.default_rng(seed)
    if dtype is np.float32:
        return rng.random((h, w, c), dtype=np.float32)
    return rng.integers(0, PEAK[dtype], (h, w, c), endpoint=True, dtype=dtype)


def smooth(h: int, w: int, c: int) -> np.ndarray:
    """A uint8 gradient that lossy codecs keep within a few levels; alpha, if any, is a constant 200."""
    y, x = np.mgrid[0:h, 0:w]
    colour = [(x * 255 // (w - 1)), (y * 255 // (h - 1)), ((x + y) * 255 // (w + h - 2))][: 1 if c <= 2 else 3]
    alpha = [np.full_like(x, 200)] if c in (2, 4) else []
    return np.stack(colour + alpha, axis=2).astype(np.uint8)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_block(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[MAKE] = "Acme"
    exif[MODEL] = "Model 7"
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def parsed_exif(block: bytes | None) -> dict[int, object]:
    assert block is not None
    exif = Image.Exif()
    exif.load(block)
    return dict(exif)


def raw_png(pixels: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG written by hand, for layouts no library here writes (gray+alpha)."""
    h, w = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(h, -1).view(np.uint8)
    scanlines = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for pixels stored with an EXIF orientation."""
    return {
        1: stored,
        2: np.fliplr(stored),
        3: np.rot90(stored, 2),
        4: np.flipud(stored),
        5: np.rot90(np.fliplr(stored), 1),
        6: np.rot90(stored, -1),
        7: np.rot90(np.fliplr(stored), -1),
        8: np.rot90(stored, 1),
    }[orientation]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "dtype", "channels"),
    [(".png", np.uint8, c) for c in (1, 2, 3, 4)]
    + [(".png", np.uint16, c) for c in (1, 3, 4)]
    + [(".tif", dt, c) for dt in (np.uint8, np.uint16, np.float32) for c in (1, 2, 3, 4)]
    + [(".tiff", np.uint8, 3), (".bmp", np.uint8, 1), (".bmp", np.uint8, 3)],
)
def test_lossless_round_trip_is_exact(tmp_path: Path, suffix: str, dtype: type, channels: int) -> None:
    pixels = noise(9, 13, channels, dtype)
    path = tmp_path / f"out{suffix}"
    save_image(path, pixels)
    loaded = load_image(path)
    assert loaded.pixels.dtype == dtype
    assert loaded.pixels.flags.c_contiguous
    np.testing.assert_array_equal(loaded.pixels, pixels)


@pytest.mark.parametrize(("suffix", "channels"), [(".jpg", 1), (".jpeg", 3), (".webp", 3), (".webp", 4)])
def test_lossy_round_trip_is_close(tmp_path: Path, suffix: str, channels: int) -> None:
    pixels = smooth(32, 48, channels)
    path = tmp_path / f"out{suffix}"
    save_image(path, pixels)
    loaded = load_image(path).pixels
    assert loaded.shape == pixels.shape and loaded.dtype == np.uint8
    assert np.abs(loaded.astype(int) - pixels).mean() < 2.0


@pytest.mark.parametrize(
    ("suffix", "channels", "stored"),
    [(".jpg", 2, 1), (".jpg", 4, 3), (".bmp", 2, 1), (".bmp", 4, 3), (".webp", 1, 3), (".webp", 2, 4)],
)
def test_channels_a_format_lacks_are_adapted(tmp_path: Path, suffix: str, channels: int, stored: int) -> None:
    pixels = smooth(16, 24, channels)
    path = tmp_path / f"out{suffix}"
    save_image(path, pixels)
    loaded = load_image(path).pixels
    assert loaded.shape == (16, 24, stored)
    assert np.abs(loaded[:, :, 0].astype(int) - pixels[:, :, 0]).max() <= 3
    if stored == 4:
        assert np.all(loaded[:, :, 3] == 200)


def test_alpha_dropped_for_jpeg_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cyclegan_fx"):
        save_image(tmp_path / "a.jpg", smooth(8, 8, 4))
        save_image(tmp_path / "b.jpg", smooth(8, 8, 4))
    assert load_image(tmp_path / "a.jpg").pixels.shape == (8, 8, 3)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["JPEG keeps no alpha channel; the alpha of the results is dropped."]


def test_example_photo_round_trips_as_jpeg(tmp_path: Path) -> None:
    photo = load_image(EXAMPLES / "coffee.jpg")
    assert photo.meta.format == "JPEG"
    assert photo.pixels.shape == (400, 600, 3) and photo.pixels.dtype == np.uint8
    save_image(tmp_path / "copy.jpg", photo.pixels, photo.meta)
    again = load_image(tmp_path / "copy.jpg")
    assert again.meta.icc_profile == photo.meta.icc_profile
    assert np.abs(again.pixels.astype(int) - photo.pixels).mean() < 2.0


# --- 16 bits and float -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_keeps_the_low_byte(tmp_path: Path, suffix: str, channels: int) -> None:
    ramp = np.arange(0, 65536, 773, dtype=np.uint32)  # 773 is no multiple of 256: the low bytes vary
    pixels = np.resize(ramp, 8 * 16 * channels).reshape(8, 16, channels).astype(np.uint16)
    pixels[0, 0], pixels[0, 1] = 0, 65535
    assert np.count_nonzero(pixels & 0xFF) > pixels.size // 2
    save_image(tmp_path / f"deep{suffix}", pixels)
    loaded = load_image(tmp_path / f"deep{suffix}").pixels
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, pixels)
    np.testing.assert_array_equal(loaded & 0xFF, pixels & 0xFF)


def test_big_endian_16_bit_input_is_written_correctly(tmp_path: Path) -> None:
    pixels = noise(5, 6, 3, np.uint16)
    save_image(tmp_path / "be.png", pixels.astype(">u2"))
    np.testing.assert_array_equal(load_image(tmp_path / "be.png").pixels, pixels)


def test_16_bit_gray_alpha_png_is_read_as_two_channels(tmp_path: Path) -> None:
    pixels = noise(6, 7, 2, np.uint16, seed=3)
    (tmp_path / "ga.png").write_bytes(raw_png(pixels, colour_type=4))
    loaded = load_image(tmp_path / "ga.png").pixels
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, pixels)


def test_16_bit_gray_alpha_png_is_written_as_rgba_with_the_same_values(tmp_path: Path) -> None:
    pixels = noise(6, 7, 2, np.uint16, seed=4)
    save_image(tmp_path / "ga.png", pixels)
    loaded = load_image(tmp_path / "ga.png").pixels
    assert loaded.shape == (6, 7, 4) and loaded.dtype == np.uint16
    for c in range(3):
        np.testing.assert_array_equal(loaded[:, :, c], pixels[:, :, 0])
    np.testing.assert_array_equal(loaded[:, :, 3], pixels[:, :, 1])


def test_16_bit_to_8_bit_formats_rounds_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pixels = np.array([[[0, 128, 129], [257 * 200 + 128, 65535, 385]]], dtype=np.uint16)
    with caplog.at_level(logging.WARNING, logger="cyclegan_fx"):
        save_image(tmp_path / "x.bmp", pixels)
    loaded = load_image(tmp_path / "x.bmp").pixels
    np.testing.assert_array_equal(loaded, [[[0, 0, 1], [200, 255, 1]]])
    np.testing.assert_array_equal(loaded, np.rint(pixels / 257))
    assert "BMP stores 8 bits" in caplog.text


def test_float32_tiff_keeps_values_outside_0_to_1(tmp_path: Path) -> None:
    pixels = noise(5, 6, 3, np.float32) * 4 - 1.5
    save_image(tmp_path / "f.tif", pixels)
    loaded = load_image(tmp_path / "f.tif")
    assert loaded.pixels.dtype == np.float32 and loaded.meta.format == "TIFF"
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_float32_to_png_is_clipped_and_rounded_to_8_bits(tmp_path: Path) -> None:
    pixels = np.array([[[-0.5, 0.5, 1.5], [np.nan, 0.2, 1.0]]], dtype=np.float32)
    save_image(tmp_path / "f.png", pixels)
    np.testing.assert_array_equal(load_image(tmp_path / "f.png").pixels, [[[0, 128, 255], [0, 51, 255]]])


def test_planar_16_bit_tiff_is_read_channels_last(tmp_path: Path) -> None:
    pixels = noise(5, 6, 3, np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(pixels, 2, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(load_image(tmp_path / "planar.tif").pixels, pixels)


# --- Pillow modes --------------------------------------------------------------------------------


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.save(tmp_path / "t.png", transparency=1)
    image.save(tmp_path / "o.png")
    loaded = load_image(tmp_path / "t.png").pixels
    assert loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded[:, :, 3], np.where(indices == 1, 0, 255))
    np.testing.assert_array_equal(loaded[0, 0], [255, 0, 0, 255])
    assert load_image(tmp_path / "o.png").pixels.shape == (2, 3, 3)


def test_cmyk_jpeg_becomes_rgb_without_a_profile(tmp_path: Path) -> None:
    Image.new("CMYK", (9, 8), (10, 200, 30, 40)).save(tmp_path / "c.jpg")
    loaded = load_image(tmp_path / "c.jpg")
    assert loaded.pixels.shape == (8, 9, 3) and loaded.meta.icc_profile is None
    expected = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"))
    np.testing.assert_array_equal(loaded.pixels, expected)


def test_cmyk_with_an_unusable_profile_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", icc_profile=srgb_icc())
    with caplog.at_level(logging.WARNING, logger="cyclegan_fx"):
        loaded = load_image(tmp_path / "c.jpg")
    assert loaded.pixels.shape == (4, 4, 3) and loaded.meta.icc_profile is None
    assert "ICC profile" in caplog.text


def test_gray_modes(tmp_path: Path) -> None:
    Image.new("1", (3, 2), 1).save(tmp_path / "bilevel.png")
    Image.new("L", (3, 2), 77).save(tmp_path / "l.png")
    Image.new("LA", (3, 2), (77, 9)).save(tmp_path / "la.png")
    Image.new("I;16", (3, 2), 1234).save(tmp_path / "i16.png")
    Image.new("I", (3, 2), 70_000).save(tmp_path / "i32.tif")
    Image.new("F", (3, 2), 2.5).save(tmp_path / "f.tif")
    expected = {
        "bilevel.png": (np.uint8, [255]),
        "l.png": (np.uint8, [77]),
        "la.png": (np.uint8, [77, 9]),
        "i16.png": (np.uint16, [1234]),
        "i32.tif": (np.uint16, [65535]),
        "f.tif": (np.float32, [2.5]),
    }
    for name, (dtype, value) in expected.items():
        pixels = load_image(tmp_path / name).pixels
        assert pixels.dtype == dtype, name
        assert pixels.shape == (2, 3, len(value)), name
        np.testing.assert_array_equal(pixels[1, 2], value)


# --- metadata ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "pixels", "keeps_exif"),
    [
        (".jpg", smooth(16, 16, 3), True),
        (".webp", smooth(16, 16, 3), True),
        (".png", noise(8, 8, 3), True),
        (".png", noise(8, 8, 3, np.uint16), True),
        (".tif", noise(8, 8, 3), True),
        (".tif", noise(8, 8, 3, np.uint16), False),
    ],
    ids=["jpeg", "webp", "png8", "png16", "tiff8", "tiff16"],
)
def test_icc_and_exif_survive_load_save_load(tmp_path: Path, suffix: str, pixels: np.ndarray, keeps_exif: bool) -> None:
    icc = srgb_icc()
    save_image(tmp_path / f"a{suffix}", pixels, ImageMeta("PNG", icc, exif_block()))
    first = load_image(tmp_path / f"a{suffix}")
    save_image(tmp_path / f"b{suffix}", first.pixels, first.meta)
    second = load_image(tmp_path / f"b{suffix}")
    assert second.pixels.dtype == pixels.dtype
    for loaded in (first, second):
        assert loaded.meta.icc_profile == icc
        if keeps_exif:
            tags = parsed_exif(loaded.meta.exif)
            assert (tags[MAKE], tags[MODEL], tags[ORIENTATION]) == ("Acme", "Model 7", 1)


def test_png16_exif_chunk_has_no_exif_prefix(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", noise(4, 4, 3, np.uint16), ImageMeta("PNG", srgb_icc(), exif_block()))
    data = (tmp_path / "a.png").read_bytes()
    start = data.index(b"eXIf") + 4
    assert data[start : start + 2] in (b"MM", b"II")
    assert data.index(b"iCCP") < data.index(b"IDAT")


def test_bmp_output_carries_no_metadata(tmp_path: Path) -> None:
    save_image(tmp_path / "a.bmp", noise(4, 4, 3), ImageMeta("JPEG", srgb_icc(), exif_block()))
    meta = load_image(tmp_path / "a.bmp").meta
    assert (meta.format, meta.icc_profile, meta.exif) == ("BMP", None, None)


def test_tiff_exif_keeps_descriptive_tags_only(tmp_path: Path) -> None:
    Image.fromarray(noise(4, 5, 3)).save(tmp_path / "a.tif", exif=exif_block(), icc_profile=srgb_icc())
    tags = parsed_exif(load_image(tmp_path / "a.tif").meta.exif)
    assert tags[MAKE] == "Acme"
    assert not {256, 257, 273, 279, 34675} & set(tags)  # size, strips and the ICC profile are storage


# --- orientation ---------------------------------------------------------------------------------


def _write_oriented(path: Path, stored: np.ndarray, orientation: int) -> None:
    """Store pixels as they are, with an orientation tag, by whichever writer the kind of file needs."""
    if path.suffix == ".tif" and stored.dtype != np.uint8:
        orientation_tag = (ORIENTATION, 3, 1, orientation, True)  # SHORT
        tifffile.imwrite(path, stored, photometric="rgb", extratags=[orientation_tag], metadata=None)
    elif stored.dtype == np.uint16:
        save_image(path, stored, ImageMeta("PNG", None, exif_block(orientation)))
    elif path.suffix == ".jpg":
        Image.fromarray(stored).save(path, exif=exif_block(orientation), quality=100, subsampling=0)
    else:
        Image.fromarray(stored).save(path, exif=exif_block(orientation))


ORIENTED_KINDS = {
    "png8": (".png", np.uint8),
    "png16": (".png", np.uint16),
    "jpeg": (".jpg", np.uint8),
    "tiff8": (".tif", np.uint8),
    "tiff16": (".tif", np.uint16),
    "tiff-float": (".tif", np.float32),
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ORIENTED_KINDS)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, kind: str) -> None:
    suffix, dtype = ORIENTED_KINDS[kind]
    stored = np.zeros((4, 6, 3), np.uint8)
    stored[:2, :3] = (255, 0, 0)  # red block top-left, green row at the bottom: no symmetry
    stored[3, :] = (0, 255, 0)
    stored[0, 5] = (0, 0, 255)
    stored = (stored * (PEAK[dtype] / 255)).astype(dtype)
    path = tmp_path / f"o{suffix}"
    _write_oriented(path, stored, orientation)
    loaded = load_image(path)
    expected = upright(stored, orientation)
    assert loaded.pixels.shape == expected.shape
    assert loaded.pixels.flags.c_contiguous
    assert image_size(path) == (expected.shape[1], expected.shape[0])
    if kind == "tiff-float":  # a TIFF layout only tifffile reads: no EXIF is carried
        assert loaded.meta.exif is None
    else:
        assert parsed_exif(loaded.meta.exif)[ORIENTATION] == 1
    tolerance = 40 if kind == "jpeg" else 0
    assert np.abs(loaded.pixels.astype(float) - expected).max() <= tolerance


# --- bad input -----------------------------------------------------------------------------------


def _one_sentence(message: str, name: str) -> None:
    assert name in message and message.endswith(".") and "\n" not in message


def _png_bytes(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _jpeg_bytes(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.jpg", b"", "empty"),
        ("notes.jpg", b"shopping list: eggs, milk\n", "not an image"),
        ("moving.gif", b"GIF89a" + bytes(64), "not an image"),
        ("cut.jpg", _jpeg_bytes(noise(64, 64, 3))[:1500], "truncated"),
        ("cut.png", (lambda b: b[: len(b) // 2])(_png_bytes(noise(64, 64, 3))), "truncated"),
        ("cut16.png", (lambda b: b[: len(b) // 2])(raw_png(noise(32, 32, 3, np.uint16), 2)), "truncated or corrupt"),
    ],
)
def test_bad_files_raise_one_sentence(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    _one_sentence(str(info.value), name)
    assert words in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "nowhere.png")
    with pytest.raises(ImageReadError, match="folder") as info:
        load_image(tmp_path)
    _one_sentence(str(info.value), str(tmp_path))
    with pytest.raises(ImageReadError, match="no such file"):
        image_size(tmp_path / "nowhere.png")


def test_over_max_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    data = _png_bytes(np.zeros((1000, 1000), np.uint8))
    (tmp_path / "big.png").write_bytes(data[:200])  # header intact, pixel data missing
    with pytest.raises(ImageTooLargeError) as info:
        load_image(tmp_path / "big.png", max_pixels=10_000)
    message = str(info.value)
    _one_sentence(message, "big.png")
    assert "1000x1000" in message and "--max-pixels" in message
    assert image_size(tmp_path / "big.png") == (1000, 1000)  # the header alone answers
    with pytest.raises(ImageReadError, match="truncated"):  # decoding would have failed
        load_image(tmp_path / "big.png")


def test_pillow_pixel_limit_is_bypassed_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_image(tmp_path / "a.png", noise(20, 20, 3))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # Pillow alone would refuse 400 pixels
    assert load_image(tmp_path / "a.png", max_pixels=400).pixels.shape == (20, 20, 3)
    assert Image.MAX_IMAGE_PIXELS == 50
    with pytest.raises(ImageTooLargeError):
        load_image(tmp_path / "a.png", max_pixels=399)



def test_pillow_warnings_about_damaged_exif_go_to_the_debug_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An EXIF ImageDescription that points past the end: Pillow warns and skips it; the user sees nothing of that."""
    ifd = b"II*\x00" + struct.pack("<LH", 8, 1) + struct.pack("<HHLL", 270, 2, 100, 9999) + struct.pack("<L", 0)
    Image.fromarray(noise(24, 32, 3)).save(tmp_path / "a.jpg", exif=b"Exif\x00\x00" + ifd)
    with warnings.catch_warnings(record=True) as shown, caplog.at_level(logging.DEBUG, logger="cyclegan_fx"):
        warnings.simplefilter("always")
        assert load_image(tmp_path / "a.jpg").pixels.shape == (24, 32, 3)
    assert not shown
    assert f"While reading {tmp_path / 'a.jpg'}: Tag data larger than file" in caplog.text


# --- bad output ----------------------------------------------------------------------------------


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputError, match="exists"):
        save_image(path, noise(4, 4, 3))
    assert path.read_bytes() == b"precious"
    save_image(path, noise(4, 4, 3), overwrite=True)
    assert load_image(path).pixels.shape == (4, 4, 3)
    assert leftovers(tmp_path) == ["out.png"]


def test_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("permissions do not stop this user (root)")
        with pytest.raises(OutputError, match="not writable"):
            save_image(folder / "out.png", noise(4, 4, 3))
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o700)


def test_unknown_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as info:
        save_image(tmp_path / "out.gif", noise(4, 4, 3))
    message = str(info.value)
    _one_sentence(message, "out.gif")
    assert all(suffix in message for suffix in SUPPORTED_SUFFIXES)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("pixels", [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.int32), np.zeros((0, 4, 3))])
def test_invalid_pixels_are_refused_without_a_file(tmp_path: Path, pixels: np.ndarray) -> None:
    with pytest.raises(OutputError, match="out.png"):
        save_image(tmp_path / "out.png", pixels)
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_no_file_and_no_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: Image.Image, fp: Path, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(b"half an image")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        save_image(tmp_path / "out.jpg", noise(4, 4, 3))
    assert leftovers(tmp_path) == []
