"""The image-folder data module in-process: both layouts, splits, preprocessing, state, bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from expkit.data.image import ImageFolderDataModule, augment
from expkit.data.labelled import packaged_data_path
from expkit.errors import ConfigError, DataError
from expkit.models.cnn import CNNClassifier

DIGITS_CSV = packaged_data_path("digits/labels.csv")
DIGITS_CLASSES = packaged_data_path("digits/classes.txt")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 230)}


def colour_image(path: Path, rgb: tuple[int, int, int], size: tuple[int, int], seed: int) -> None:
    """A noisy image of one colour (each class has its own colour), of any size."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.integers(-20, 21, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    """One subfolder per class, 10 images each, of mixed sizes and formats, plus a stray note."""
    root = tmp_path / "colours"
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(10):
            suffix = ".png" if i % 2 else ".jpg"
            colour_image(root / name / f"{i}{suffix}", rgb, (12 + i, 9 + c), seed=10 * c + i)
    (root / "red" / "notes.txt").write_text("not an image")
    return root


def annotated_folder(root: Path, labels: list[str], header: str = "file,label", classes: list[str] | None = None) -> Path:
    """Images 0..n-1 with the given labels in a labels.csv (the tutorial's layout)."""
    rgbs = list(COLOURS.values())
    rows = [header]
    for i, label in enumerate(labels):
        colour_image(root / "img" / f"{i:03d}.png", rgbs[i % 3], (10, 10), seed=i)
        rows.append(f"img/{i:03d}.png,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n\n")
    if classes:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root / "labels.csv"


def digits(**kwargs) -> ImageFolderDataModule:
    args = dict(train_path=DIGITS_CSV, classes_path=DIGITS_CLASSES, image_size=8, channels=1)
    dm = ImageFolderDataModule(**{**args, **kwargs})
    dm.setup("fit")
    return dm


def test_digits_are_shipped_with_provenance_and_split_80_10_10_stratified():
    readme = (Path(DIGITS_CSV).parent / "README.md").read_text()
    assert "License: Creative Commons Attribution 4.0" in readme and "Alpaydin" in readme
    dm = digits()
    assert {name: len(data) for name, data in dm.splits.items()} == {"train": 1200, "val": 150, "test": 150}
    assert dm.counts[DIGITS_CSV] == {"read": 1500, "skipped": 0}
    assert dm.class_names == [str(d) for d in range(10)]
    assert dm.splits["train"].images.shape == (1200, 1, 8, 8) and dm.splits["train"].images.dtype == torch.uint8
    per_class = Counter(int(y) for data in dm.splits.values() for y in data.labels)
    for split in ("val", "test"):
        counts = Counter(dm.splits[split].labels.tolist())
        for c, n in per_class.items():
            assert abs(counts[c] - n * 0.1) <= 1, (split, c)
    again, other = digits(), digits(split_seed=7)
    assert torch.equal(dm.splits["val"].images, again.splits["val"].images)
    assert not torch.equal(dm.splits["val"].images, other.splits["val"].images)


def test_pixels_match_the_png_files():
    dm = ImageFolderDataModule(DIGITS_CSV, DIGITS_CLASSES, image_size=8, channels=1, val_fraction=0.0, test_fraction=0.0)
    dm.setup("fit")
    first = np.asarray(Image.open(Path(DIGITS_CSV).parent / "images" / "0001.png"))
    with open(DIGITS_CSV) as f:
        row = list(csv.reader(f))[1]
    assert row[0] == "images/0001.png"
    # Splits keep file order within the train split; row 0 of the CSV is the first train image.
    assert np.array_equal(dm.splits["train"].images[0, 0].numpy(), first)
    assert int(dm.splits["train"].labels[0]) == int(row[1])


def test_normalisation_comes_from_the_train_split_and_applies_to_every_split():
    dm = digits()
    x, y = dm.batches("train")[list(range(1200))]
    assert x.dtype == torch.float32 and x.shape == (1200, 1, 8, 8) and y.dtype == torch.int64
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    raw = dm.splits["train"].images.float() / 255
    assert dm.mean == pytest.approx([raw.mean().item()], abs=1e-6)
    val_x, _ = dm.batches("val")[[0, 1]]
    expected = (dm.splits["val"].images[:2].float() / 255 - dm.mean[0]) / dm.std[0]
    assert torch.allclose(val_x, expected)
    given = digits(mean=0.5, std=0.25)
    assert given.mean == [0.5] and given.std == [0.25]
    off = digits(normalize=False)
    x_off, _ = off.batches("val")[[0]]
    assert torch.allclose(x_off, off.splits["val"].images[:1].float() / 255)


def test_augmentation_is_for_the_training_split_only_and_repeatable():
    dm = digits(augment_shift=2, augment_flip=True)
    plain = digits()
    rows = list(range(64))
    a, b = dm.batches("train")[rows], dm.batches("train")[rows]
    assert torch.equal(a[0], b[0]), "the same batch rows give the same augmentation (resumed runs repeat it)"
    assert not torch.equal(a[0], plain.batches("train")[rows][0])
    assert torch.equal(dm.batches("val")[rows][0], plain.batches("val")[rows][0])
    assert torch.equal(a[1], plain.batches("train")[rows][1])


def test_shift_moves_pixels_and_flip_mirrors():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(200, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    shifted = augment(x, 1, False, gen)
    assert shifted.shape == x.shape
    assert any(torch.equal(s[0, 1:3, 1:3], x[0, 0, 0:2, 0:2]) for s in shifted)  # shifted down-right by one
    assert any(torch.equal(s, x[0]) for s in shifted)  # offset zero is one of the draws
    flipped = augment(x, 0, True, gen)
    mirrored = sum(torch.equal(f, x[0].flip(-1)) for f in flipped)
    assert 60 < mirrored < 140 and sum(torch.equal(f, x[0]) for f in flipped) == 200 - mirrored


def test_class_subfolders_resized_and_converted(class_folders):
    dm = ImageFolderDataModule(str(class_folders), image_size=[6, 5], channels=3, batch_size=4)
    dm.setup("fit")
    assert dm.class_names == ["blue", "green", "red"]
    assert dm.counts[str(class_folders)] == {"read": 30, "skipped": 1}
    assert {n: len(d) for n, d in dm.splits.items()} == {"train": 24, "val": 3, "test": 3}
    assert Counter(dm.splits["val"].labels.tolist()) == {0: 1, 1: 1, 2: 1}
    assert dm.model_dims() == {"in_channels": 3, "image_size": [6, 5], "num_classes": 3}
    assert dm.task_facts() == {"num_classes": 3, "class_names": ["blue", "green", "red"]}
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 6, 5)
    # The colour survives loading: each class's mean channel is its dominant colour.
    raw = dm.splits["train"].images.float()
    for c, channel in ((0, 2), (1, 1), (2, 0)):
        assert raw[dm.splits["train"].labels == c].mean(dim=(0, 2, 3)).argmax() == channel
    gray = ImageFolderDataModule(str(class_folders), image_size=4, channels=1)
    gray.setup("fit")
    assert gray.splits["train"].images.shape[1:] == (1, 4, 4)
    assert CNNClassifier(**dm.model_dims())(x).shape == (4, 3)


def test_annotations_csv_with_names_indices_and_no_classes_file(tmp_path):
    names = annotated_folder(tmp_path / "named", ["cat", "dog", "eel"] * 10)
    dm = ImageFolderDataModule(str(names), image_size=10, channels=3)
    dm.setup("fit")
    assert dm.class_names == ["cat", "dog", "eel"]
    assert dm.counts[str(names)] == {"read": 30, "skipped": 1}  # the trailing blank line
    numbered = annotated_folder(tmp_path / "numbered", ["2", "10", "7"] * 10)
    dm = ImageFolderDataModule(str(numbered.parent), image_size=10)  # the folder holding labels.csv
    dm.setup("fit")
    assert dm.class_names == ["2", "7", "10"], "whole-number labels keep numeric order"
    with_classes = annotated_folder(tmp_path / "classes", ["0", "dog", "2"] * 10, classes=["cat", "dog", "eel"])
    dm = ImageFolderDataModule(str(with_classes), image_size=10)
    dm.setup("fit")
    assert dm.class_names == ["cat", "dog", "eel"]
    all_labels = torch.cat([d.labels for d in dm.splits.values()])
    assert Counter(all_labels.tolist()) == {0: 10, 1: 10, 2: 10}


def test_test_path_replaces_the_test_split(tmp_path, class_folders):
    other = annotated_folder(tmp_path / "other", ["red", "blue", "green", "0"])
    dm = ImageFolderDataModule(str(class_folders), test_path=str(other), image_size=8)
    dm.setup("fit")
    assert {n: len(d) for n, d in dm.splits.items()} == {"train": 27, "val": 3, "test": 4}
    assert dm.splits["test"].labels.tolist() == [2, 0, 1, 0]


def test_state_alone_predicts_and_evaluates_other_data(tmp_path, class_folders):
    dm = ImageFolderDataModule(str(class_folders), image_size=8)
    dm.setup("fit")
    state = dm.state_dict()
    assert torch.load(_save(tmp_path, state), weights_only=True) == state  # plain containers only
    files = [str(class_folders / "red" / "1.png"), str(class_folders / "blue" / "4.jpg")]
    # A fresh module whose training folder is gone: the state alone gives sizes, facts and inputs.
    fresh = ImageFolderDataModule(str(tmp_path / "gone"), image_size=32, channels=1)
    fresh.load_state_dict(state)
    assert fresh.model_dims() == dm.model_dims() and fresh.task_facts() == dm.task_facts()
    (x,) = fresh.predict_inputs(files)
    assert torch.equal(x, dm.predict_inputs(files)[0]) and x.shape == (2, 3, 8, 8)
    fresh.test_path = str(annotated_folder(tmp_path / "other", ["red", "green"]))
    fresh.setup("test")
    assert list(fresh.splits) == ["test"] and fresh.splits["test"].labels.tolist() == [2, 1]


def _save(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    "labels_csv, message",
    [
        ("path,class\nimg/000.png,0\n", r"labels\.csv:1: the header is .* `file` and `label`"),
        ("file,label\nimg/000.png,0\nimg/404.png,1\n", r"labels\.csv:3: image file .*404\.png does not exist"),
        ("file,label\nimg/000.png,0\nimg/bad.png,1\n", r"labels\.csv:3: cannot read image .*bad\.png"),
        ("file,label\nimg/000.png,0\nimg/001.png,horse\n", r"labels\.csv:3: unknown label 'horse'"),
        ("file,label\nimg/000.png,0\nimg/001.png,7\n", r"labels\.csv:3: unknown label '7'.*index 0\.\.2"),
        ("file,label\nimg/000.png,0\nimg/001.png,1,extra\n", r"labels\.csv:3: expected 2 columns"),
        ("file,label\nimg/000.png,\n", r"labels\.csv:2: the row has an empty label"),
        ("file,label\n\n", r"lists no images"),
        # An unclosed quote swallows the rows after it: named at the line where it opens.
        ('file,label\nimg/000.png,0\n"img/001.png,1\nimg/000.png,2\n', r"labels\.csv:3: unreadable CSV row"),
        ('file,label\n"img/000.png\nimg/001.png",1\nimg/000.png,2\n', r"labels\.csv:2: a quoted field that starts on line 2"),
        ("file,label\nimg/000.png,0\nimg,1\n", r"labels\.csv:3: image file .*img is a folder, not an image file"),
    ],
)
def test_bad_annotations_name_the_file_and_line(tmp_path, labels_csv, message):
    colour_image(tmp_path / "img" / "000.png", (0, 0, 0), (4, 4), 0)
    colour_image(tmp_path / "img" / "001.png", (0, 0, 0), (4, 4), 1)
    (tmp_path / "img" / "bad.png").write_text("not a png")
    (tmp_path / "classes.txt").write_text("cat\ndog\neel\n")
    (tmp_path / "labels.csv").write_text(labels_csv)
    dm = ImageFolderDataModule(str(tmp_path / "labels.csv"), image_size=4)
    with pytest.raises(DataError, match=message):
        dm.setup("fit")


def test_non_utf8_annotations_give_line_and_column(tmp_path):
    colour_image(tmp_path / "img" / "000.png", (0, 0, 0), (4, 4), 0)
    (tmp_path / "labels.csv").write_bytes(b"file,label\nimg/000.png,0\nimg/000.png,d\xe9f\n")
    with pytest.raises(DataError, match=r"labels\.csv:3: not UTF-8 text \(byte e9 at column 14 of line 3\)"):
        ImageFolderDataModule(str(tmp_path / "labels.csv"), image_size=4).setup("fit")


def test_decompression_bomb_is_a_data_error(tmp_path, monkeypatch):
    # Pillow refuses images over twice MAX_IMAGE_PIXELS; lowered here so an 8x8 digit trips it.
    dm = digits()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(DataError, match=r"0001\.png is too large to decode safely"):
        dm.predict_inputs([str(Path(DIGITS_CSV).parent / "images" / "0001.png")])


def test_bad_folders_and_keys(tmp_path, class_folders):
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataModule(str(tmp_path / "nowhere")).setup("fit")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="neither labels.csv nor class subfolders"):
        ImageFolderDataModule(str(tmp_path / "flat")).setup("fit")
    (class_folders / "purple").mkdir()
    (class_folders / "purple" / "x.png").write_text("broken")
    with pytest.raises(DataError, match=r"purple/: cannot read image .*x\.png"):
        ImageFolderDataModule(str(class_folders)).setup("fit")
    with pytest.raises(DataError, match=r"ghost\.png does not exist"):
        digits().predict_inputs([str(tmp_path / "ghost.png")])
    for key, value, match in (
        ("channels", 2, "use 1 .* or 3"),
        ("image_size", [8, 8, 8], "image_size"),
        ("augment_shift", -1, "augment_shift"),
        ("std", [0.0], "must be > 0"),
        ("mean", [0.1, 0.2], "one per channel"),
    ):
        with pytest.raises(ConfigError, match=match):
            ImageFolderDataModule(DIGITS_CSV, **{"channels": 3, key: value})


@pytest.mark.parametrize("size, flat", [(8, 64), (64, 64 * 8 * 8), ([7, 13], 64 * 1 * 2)])
def test_cnn_is_three_conv_pool_blocks_and_two_linear_layers(size, flat):
    net = CNNClassifier(in_channels=1, image_size=size, num_classes=10, num_channels=16, hidden_size=32, dropout=0.2)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 16, (3, 3), (1, 1)), (16, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))
    ]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 3
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(flat, 32), (32, 10)]
    h, w = (size, size) if isinstance(size, int) else size
    assert net(torch.zeros(5, 1, h, w)).shape == (5, 10)
