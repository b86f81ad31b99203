"""Reading images: every kind of source gives the same RGB pixels; bad input, one clear line."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ovnb.errors import OvnbError
from ovnb.images import (MAX_SIDE, THUMB_SIDE, blank, load_image, load_mask, samples,
                         thumbnail_png, to_tensor)

SKY = (135, 195, 240)  # the house sample's top-left pixel, as drawn


def house() -> Path:
    return samples()["house"]


def png_bytes(image: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def test_bundled_samples_are_small_drawn_scenes() -> None:
    assert sorted(samples()) == ["house", "sailboat"]
    for path in samples().values():
        picture = load_image(path)
        assert picture.size == (320, 240) and not picture.downscaled
        assert picture.pixels.shape == (240, 320, 3) and picture.pixels.dtype == np.uint8
    assert tuple(load_image(house()).pixels[0, 0]) == SKY
    assert "CC0" in (house().parent / "README.md").read_text()


def test_path_bytes_pil_and_array_give_the_same_pixels() -> None:
    expected = np.asarray(Image.open(house()).convert("RGB"))
    pil = Image.open(house())
    sources = [house(), str(house()), house().read_bytes(), memoryview(house().read_bytes()),
               pil, expected, np.moveaxis(expected, -1, 0), expected / 255.0]
    for source in sources:
        np.testing.assert_array_equal(load_image(source).pixels, expected)
    assert pil.size == (320, 240)  # the caller's image is left alone
    assert load_image(house()).name == "house.png"
    assert load_image(house().read_bytes(), name="mine.png").name == "mine.png"


def test_a_sample_name_reads_the_sample_as_its_path_does() -> None:
    for name, path in samples().items():
        picture = load_image(name)
        assert picture.name == path.name
        np.testing.assert_array_equal(picture.pixels, load_image(path).pixels)
    assert load_image(" house ").name == "house.png"


def test_an_unknown_bare_name_lists_the_samples() -> None:
    with pytest.raises(OvnbError) as caught:
        load_image("hous")
    assert str(caught.value) == ("no image file or sample named 'hous': give an image's path, "
                                 "or a sample: house, sailboat")
    with pytest.raises(OvnbError, match="no such image file: house.png: check the path"):
        load_image("house.png")  # a name with a suffix is a path: not looked up as a sample


def test_a_file_wins_over_a_sample_of_its_name(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (8, 6), (1, 2, 3)).save(tmp_path / "house", format="PNG")
    monkeypatch.chdir(tmp_path)
    assert load_image("house").size == (8, 6)


def test_gray_bool_and_transparent_images_become_rgb() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = load_image(gray).pixels
    assert rgb.shape == (16, 16, 3) and (rgb == gray[:, :, None]).all()
    mask = np.eye(4, dtype=bool)
    assert (load_image(mask).pixels[:, :, 0] == mask * 255).all()
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel, the rest fully transparent black
    pixels = load_image(png_bytes(Image.fromarray(rgba))).pixels
    assert tuple(pixels[0, 0]) == (255, 0, 0) and tuple(pixels[3, 3]) == (255, 255, 255)
    palette = Image.fromarray(rgba).convert("P")
    assert load_image(palette).pixels.shape == (4, 4, 3)


# wide grayscale: what Pillow reads 16-bit PNG/TIFF, 16-bit PGM, 32-bit and float TIFF as
RAMP16 = np.linspace(0, 65535, 64 * 64).reshape(64, 64).round().astype(np.uint16)


def pgm16(values: np.ndarray) -> bytes:
    height, width = values.shape
    return f"P5\n{width} {height}\n65535\n".encode() + values.astype(">u2").tobytes()


def gray(pixels: np.ndarray) -> np.ndarray:
    assert pixels.dtype == np.uint8 and (pixels == pixels[:, :, :1]).all()  # R = G = B
    return pixels[:, :, 0].astype(int)


@pytest.mark.parametrize("source", [
    lambda: png_bytes(Image.fromarray(RAMP16)),                 # I;16
    lambda: png_bytes(Image.fromarray(RAMP16), "TIFF"),         # I;16
    lambda: pgm16(RAMP16),                                      # I
    lambda: Image.fromarray(RAMP16),                            # a PIL image, I;16
])
def test_16_bit_grayscale_is_scaled_not_clipped(source) -> None:
    """Pillow's convert("RGB") clips 16-bit values at 255: a ramp came out 99.6 % white."""
    pixels = gray(load_image(source()).pixels)
    np.testing.assert_allclose(pixels, RAMP16 / 257, atol=0.51)


def test_32_bit_grayscale_is_scaled_from_its_full_range() -> None:
    ramp = np.linspace(0, 2**31 - 1, 64 * 64).reshape(64, 64).astype(np.int32)
    pixels = gray(load_image(png_bytes(Image.fromarray(ramp), "TIFF")).pixels)
    np.testing.assert_allclose(pixels, ramp / (2**31 - 1) * 255, atol=0.51)


def test_float_images_in_0_1_are_scaled_and_others_stretched(capsys) -> None:
    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    pixels = gray(load_image(png_bytes(Image.fromarray(ramp), "TIFF"), name="ramp.tif").pixels)
    np.testing.assert_allclose(pixels, ramp * 255, atol=0.51)  # was only 0 and 1
    assert capsys.readouterr().err == ""
    depth = Image.fromarray(ramp * 4 - 1)  # -1 .. 3, e.g. a depth map
    pixels = gray(load_image(depth, name="depth").pixels)
    np.testing.assert_allclose(pixels, ramp * 255, atol=0.51)
    assert "depth holds values from -1 to 3: stretched to black..white" in capsys.readouterr().err


def test_nan_pixels_are_refused() -> None:
    bad = np.zeros((8, 8), np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(OvnbError, match=r"^scan.tif has NaN or infinite pixels: save it again"):
        load_image(png_bytes(Image.fromarray(bad), "TIFF"), name="scan.tif")


def test_a_16_bit_scan_can_be_downscaled_fourfold() -> None:
    """thumbnail() cannot reduce I;16 ("image has wrong mode") once it shrinks 4x or more."""
    picture = load_image(png_bytes(Image.fromarray(RAMP16)), max_side=16)
    assert picture.size == (16, 16) and picture.original_size == (64, 64)
    assert gray(picture.pixels).max() >= 240 and gray(picture.pixels).min() <= 15


def test_a_rotated_photo_is_turned_upright() -> None:
    image = Image.new("RGB", (60, 40), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    picture = load_image(png_bytes(image, "JPEG", exif=exif))
    assert picture.size == (40, 60) and picture.original_size == (40, 60)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_huge_image_is_downscaled_while_read(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"huge.{fmt.lower()}"
    Image.new("RGB", (8000, 4000), (10, 200, 30)).save(path, format=fmt)
    picture = load_image(path)
    assert picture.size == (MAX_SIDE, MAX_SIDE // 2) and picture.downscaled
    assert picture.original_size == (8000, 4000)
    assert np.abs(picture.pixels[100, 100].astype(int) - (10, 200, 30)).max() <= 3
    assert load_image(np.zeros((3000, 100, 3), np.uint8)).size == (45, MAX_SIDE)


def test_max_side_can_be_chosen() -> None:
    assert load_image(house(), max_side=64).size == (64, 48)


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such image file"),
    ("folder", "is a folder"),
    ("text", "is not an image Pillow can read"),
    ("empty", "is empty"),
    ("truncated", "cannot read"),
    ("bad-shape", "cannot use an array shaped"),
    ("bad-float", "values in [0, 1]"),
    ("bad-int", "cannot use a int16 array"),
])
def test_bad_input_is_one_line_naming_the_fix(tmp_path: Path, case: str, expect: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    source = {
        "missing": tmp_path / "nope.png", "folder": tmp_path, "text": text, "empty": b"",
        "truncated": house().read_bytes()[:400],
        "bad-shape": np.zeros((4, 4, 2), np.uint8), "bad-float": np.full((4, 4), 2.0),
        "bad-int": np.full((4, 4), -1, np.int16),
    }[case]
    with pytest.raises(OvnbError) as error:
        load_image(source)
    message = str(error.value)
    assert expect in message and "\n" not in message and ":" in message


def test_a_source_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot read an image from int: give a file path"):
        load_image(42)  # type: ignore[arg-type]


def test_an_image_too_big_to_open_safely_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # house.png has 76800: > 2x the limit
    with pytest.raises(OvnbError, match="too large to open safely"):
        load_image(house())


def test_tensor_holds_the_pixels() -> None:
    picture = load_image(house())
    tensor = picture.tensor()
    assert list(tensor.shape) == [240, 320, 3]
    np.testing.assert_array_equal(tensor.data, picture.pixels)
    with pytest.raises(OvnbError, match="RGB pixels"):
        to_tensor(np.zeros((4, 4), np.uint8))


def test_thumbnail_is_small_and_keeps_the_aspect() -> None:
    picture = load_image(house())
    thumb = Image.open(io.BytesIO(picture.thumbnail_png()))
    assert thumb.format == "PNG" and thumb.size == (THUMB_SIDE, THUMB_SIDE * 3 // 4)
    assert len(thumbnail_png(picture.pixels, 32)) < len(picture.thumbnail_png())


# masks ---------------------------------------------------------------------------------------------
def disc(size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """A white disc on black, (H, W) bool: the mask the tests below give in every form."""
    h, w = size[1], size[0]
    y, x = np.mgrid[:h, :w]
    return (x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2


def test_a_mask_reads_the_same_from_every_source(tmp_path: Path) -> None:
    expected = disc().astype(np.uint8) * 255
    gray = Image.fromarray(expected)
    gray.save(tmp_path / "mask.png")
    rgb = gray.convert("RGB")
    sources = [tmp_path / "mask.png", str(tmp_path / "mask.png"), png_bytes(gray), gray, rgb,
               disc(), expected, expected[:, :, None], np.asarray(rgb), expected / 255.0,
               png_bytes(rgb, "JPEG", quality=95)]  # JPEG: grey edges are split at half
    for source in sources:
        mask = load_mask(source)
        assert mask.size == (40, 30) and mask.pixels.dtype == np.uint8
        assert set(np.unique(mask.pixels)) <= {0, 255}
        assert np.count_nonzero(mask.pixels != expected) <= 4, type(source)  # JPEG's few edges
    assert load_mask(tmp_path / "mask.png").name == "mask.png"
    assert load_mask(png_bytes(gray), name="drawn.png").name == "drawn.png"
    assert load_mask(disc()).coverage == disc().mean()


def test_a_mask_splits_at_half_brightness_and_transparent_keeps() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert (load_mask(ramp).pixels == np.where(ramp >= 128, 255, 0)).all()
    layer = np.zeros((8, 8, 4), np.uint8)
    layer[..., :3] = 255  # white everywhere, but only the painted strokes are opaque
    layer[2:4, 2:6, 3] = 255
    mask = load_mask(png_bytes(Image.fromarray(layer)))
    assert np.count_nonzero(mask.pixels) == 8 and mask.pixels[2:4, 2:6].all()


def test_a_mask_png_reads_back_and_a_big_one_shrinks_sharp() -> None:
    mask = load_mask(disc())
    assert np.array_equal(load_mask(mask.png()).pixels, mask.pixels)
    assert Image.open(io.BytesIO(mask.png())).mode == "L"
    big = load_mask(disc((2 * MAX_SIDE, MAX_SIDE)))
    assert big.size == (MAX_SIDE, MAX_SIDE // 2) and big.original_size == (2 * MAX_SIDE, MAX_SIDE)
    assert set(np.unique(big.pixels)) == {0, 255}  # nearest pixels: no grey edges to misjudge


@pytest.mark.parametrize("source, expect", [
    (b"", "the mask upload is empty"),
    (b"not a png", "is not an image Pillow can read"), (np.zeros((4, 4, 2)), "shaped")])
def test_a_bad_mask_is_one_line(source: object, expect: str) -> None:
    with pytest.raises(OvnbError) as error:
        load_mask(source)
    assert expect in str(error.value) and "\n" not in str(error.value)


def test_a_mask_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot read a mask from int"):
        load_mask(42)  # type: ignore[arg-type]


# blank: a broken generation (NaN latents decode to one flat colour) is named, not shown ----------
F32_HINT = '"INFERENCE_PRECISION_HINT": "f32"'


@pytest.mark.parametrize("shape, what", [((32, 48, 3), "image"), ((1, 32, 48, 3), "image"),
                                         ((25, 32, 48, 3), "clip"), ((1, 9, 32, 32, 3), "clip")])
def test_an_all_black_result_is_refused_in_one_line_naming_the_fix(shape: tuple, what: str) -> None:
    reason = blank(np.zeros(shape, np.uint8))
    assert reason is not None and "\n" not in reason
    assert reason.startswith(f"the {what} came out blank (every pixel is (0, 0, 0)")
    assert F32_HINT in reason and "another size or seed" in reason


def test_one_flat_colour_is_blank_but_one_differing_value_is_not() -> None:
    flat = np.full((9, 32, 32, 3), (200, 30, 90), np.uint8)
    assert "every pixel is (200, 30, 90)" in blank(flat)
    flat[8, 31, 31, 2] = 91  # the last value of the last frame
    assert blank(flat) is None
    assert blank(np.asarray(Image.open(house()).convert("RGB"))) is None
    assert blank(np.full((4, 4), 7, np.uint8)).startswith("the image came out blank (every pixel is 7;")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    pixels = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    assert blank(pixels) is None
    pixels[1, 3, 3, 0] = bad
    assert blank(pixels).startswith("the clip holds NaN or infinite values")
    assert F32_HINT in blank(pixels)


def test_an_empty_result_is_no_result() -> None:
    assert blank(np.zeros((0, 32, 32, 3), np.uint8)) == ("the image is empty: nothing was "
                                                         "generated; generate again")
