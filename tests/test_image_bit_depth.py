"""Images of every bit depth Pillow opens reach the model in [0, 1] as their format means them:
8-bit / 255, 16-bit / 65535, [0, 1] floats as they are; anything else is refused by name.

The fault (issue 22): 16-bit grayscale PNGs went through Pillow's `convert("L")`, which clips at
255, so every microscopy image was white, training ended at chance and predict called a dark
image "light".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from expkit.data.image import ImageFolderDataModule, ImageList, decode_images, load_image, unit_range
from expkit.errors import DataError

from conftest import read_metrics, run_cli


def save(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(pixels)
    (img.convert(mode) if mode else img).save(path)
    return path


def test_16_bit_png_is_divided_by_65535_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    path = save(tmp_path / "a.png", values)
    assert Image.open(path).mode == "I;16"  # what Pillow gives for a 16-bit grayscale PNG
    pixels = load_image(path, channels=1, size=(1, 4))
    assert pixels.dtype == np.float32 and pixels.shape == (1, 1, 4)
    np.testing.assert_allclose(pixels[0, 0], [0, 1000 / 65535, 32768 / 65535, 1.0], rtol=1e-6)


def test_16_bit_image_scales_exactly_like_its_8_bit_copy(tmp_path):
    """k * 257 in 16 bits is k in 8 bits (65535 = 255 * 257): both give the same [0, 1] values,
    after resizing too."""
    rng = np.random.default_rng(0)
    eight = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    a8 = save(tmp_path / "a8.png", eight)
    a16 = save(tmp_path / "a16.png", eight.astype(np.uint16) * 257)
    for size in ((6, 5), (3, 4)):
        for channels in (1, 3):
            x8, x16 = (unit_range(load_image(p, channels, size)) for p in (a8, a16))
            assert x16.shape == x8.shape == (channels, *size)
            tolerance = 0 if size == (6, 5) else 1 / 255  # Pillow's 8-bit resize rounds to whole levels
            torch.testing.assert_close(x16, x8, atol=tolerance + 1e-6, rtol=0)


def test_a_dark_16_bit_image_stays_dark(tmp_path):
    """A 12-bit camera image (values up to 4095) in a 16-bit PNG: dark, and certainly not white."""
    path = save(tmp_path / "dark.png", np.full((4, 4), 3000, dtype=np.uint16))
    pixels = load_image(path, channels=1, size=(4, 4))
    np.testing.assert_allclose(pixels, 3000 / 65535, rtol=1e-6)


def test_float_tiff_in_0_1_is_taken_as_is(tmp_path):
    values = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    path = save(tmp_path / "f.tif", values)
    assert Image.open(path).mode == "F"
    np.testing.assert_array_equal(load_image(path, channels=1, size=(1, 4))[0, 0], values[0])
    assert load_image(path, channels=3, size=(1, 4)).shape == (3, 1, 4)


@pytest.mark.parametrize(
    "pixels, said",
    [
        (np.array([[0.0, 2.5]], dtype=np.float32), "32-bit float (Pillow mode F) with values from 0 to 2.5"),
        (np.array([[-1.0, 0.5]], dtype=np.float32), "values from -1 to 0.5"),
        (np.array([[np.nan, 0.5]], dtype=np.float32), "[0, 1] (and finite)"),
        (np.array([[0, 70000]], dtype=np.int32), "32-bit integer (Pillow mode I) with values from 0 to 70000"),
    ],
)
def test_deep_images_without_a_known_full_scale_are_refused_by_name(tmp_path, pixels, said):
    path = save(tmp_path / "x.tif", pixels)
    with pytest.raises(DataError) as err:
        load_image(path, channels=1, size=(1, 2), origin="labels.csv:3")
    message = str(err.value)
    assert message.startswith("labels.csv:3: image ") and str(path) in message and said in message
    assert "Save it as [0, 1] floats or as 8/16-bit integers" in message


def test_32_bit_integer_in_16_bit_range_is_divided_by_65535(tmp_path):
    path = save(tmp_path / "i.tif", np.array([[0, 655, 65535]], dtype=np.int32))
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(load_image(path, 1, (1, 3))[0, 0], [0, 655 / 65535, 1.0], rtol=1e-6)


def test_8_bit_modes_keep_uint8_and_pillows_conversion(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10  # red, nearly transparent: alpha is dropped, colour kept
    path = save(tmp_path / "rgba.png", rgba)
    pixels = load_image(path, channels=3, size=(2, 2))
    assert pixels.dtype == np.uint8 and pixels[:, 0, 0].tolist() == [200, 0, 0]
    palette = tmp_path / "p.png"
    indexed = Image.fromarray(np.ones((2, 2), dtype=np.uint8), mode="P")
    indexed.putpalette([0, 0, 0, 0, 128, 255])  # index 1 -> (0, 128, 255)
    indexed.save(palette)
    assert Image.open(palette).mode == "P"
    assert load_image(palette, channels=3, size=(2, 2))[:, 1, 1].tolist() == [0, 128, 255]
    bilevel = save(tmp_path / "b.png", np.array([[0, 255]], dtype=np.uint8), mode="1")
    assert load_image(bilevel, channels=1, size=(1, 2))[0, 0].tolist() == [0, 255]


def test_a_folder_mixing_8_and_16_bit_images_is_one_float_tensor_in_0_1(tmp_path):
    files = [
        save(tmp_path / "a.png", np.full((2, 2), 51, dtype=np.uint8)),  # 0.2
        save(tmp_path / "b.png", np.full((2, 2), 13107, dtype=np.uint16)),  # 0.2
        save(tmp_path / "c.png", np.full((2, 2), 255, dtype=np.uint8)),  # 1.0
    ]
    images = ImageList(tmp_path, files=files, labels=["x"] * 3, origins=["row"] * 3)
    x = decode_images(images, channels=1, size=(2, 2))
    assert x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0, 0, 0], torch.tensor([0.2, 0.2, 1.0]))
    only_8_bit = decode_images(ImageList(tmp_path, files=files[::2], labels=["x"] * 2, origins=["row"] * 2), 1, (2, 2))
    assert only_8_bit.dtype == torch.uint8  # 8-bit folders keep their compact storage


def sixteen_bit_folder(root: Path, n: int = 12, seed: int = 0) -> Path:
    """Dark (about 1,000-3,000) and light (about 8,000-12,000) 16-bit noisy images: every value is
    over 255, so a loader that clips makes both classes identical white squares."""
    rng = np.random.default_rng(seed)
    for name, (low, high) in {"dark": (1000, 3000), "light": (8000, 12000)}.items():
        for i in range(n):
            save(root / name / f"{i}.png", rng.integers(low, high, (8, 8)).astype(np.uint16))
    return root


def test_datamodule_statistics_and_predict_see_16_bit_intensities(tmp_path):
    root = sixteen_bit_folder(tmp_path / "cells")
    dm = ImageFolderDataModule(str(root), image_size=8, channels=1, val_fraction=0.0, test_fraction=0.0)
    dm.setup("fit")
    assert dm.splits["train"].images.dtype == torch.float32
    assert 1000 / 65535 < dm.mean[0] < 12000 / 65535  # the clipping loader said 1.0
    (dark,) = dm.predict_inputs([str(root / "dark" / "0.png")])
    (light,) = dm.predict_inputs([str(root / "light" / "0.png")])
    assert dark.mean() < 0 < light.mean()  # below and above the training mean


@pytest.mark.slow
def test_cli_learns_16_bit_images_and_predicts_a_dark_one_dark(tmp_path):
    root = sixteen_bit_folder(tmp_path / "cells")
    result = run_cli(
        "train", "experiment=digits", "data=image_folder", f"data.train_path={root}", "data.image_size=8",
        "data.channels=1", "data.batch_size=8", "data.val_fraction=0.25", "data.test_fraction=0.25",
        "trainer.max_epochs=15", cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("digits")
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["test/acc"] == 1.0 and metrics["val/acc"] == 1.0
    unseen = sixteen_bit_folder(tmp_path / "unseen", n=1, seed=1)
    predicted = run_cli("predict", str(run_dir), str(unseen / "dark" / "0.png"), str(unseen / "light" / "0.png"),
                        "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.output
    lines = [json.loads(line) for line in predicted.stdout.splitlines() if line.startswith("{")]
    assert [line["predictions"][0]["label"] for line in lines] == ["dark", "light"], lines
