"""Image classification data: a folder of image files with labels, decoded once into one tensor.

Two layouts are read, the two a user is likely to have:

- an **annotations CSV** (the PyTorch tutorial's custom image Dataset): a header line naming the
  columns `file` and `label`, then one row per image. `file` is relative to the CSV's folder (or
  absolute); `label` is a class name or a 0-based class index. `train_path` may name the CSV, or a
  folder holding `labels.csv`.
- **one subfolder per class** (torchvision's ImageFolder): `train_path` names a folder whose
  subfolders are the classes; every image file inside a subfolder is one example of it.

Class names come from `classes_path` (one name a line, line 1 = class index 0); left null, a
`classes.txt` next to the CSV (or in the folder) is used when there is one, else the labels
themselves, sorted (numerically when they are all whole numbers), or the subfolder names.

Images are loaded with Pillow, converted to `channels` (1: grayscale, 3: RGB), resized to
`image_size` and stored as one tensor `[N, C, H, W]`, so a batch is one index operation: uint8
when every image is 8-bit (the common case, a quarter of the memory), else float32 already in
[0, 1]. How each bit depth reaches [0, 1] (`pixel_full_scale`):

- 8-bit modes (L, P, RGB, RGBA, CMYK, ...): Pillow's conversion, then / 255.
- 16-bit grayscale (I;16 from 16-bit PNG/TIFF): / 65535, the format's full scale. A 12-bit camera
  image in a 16-bit file therefore looks dark in [0, 1]; the normalisation computed from the train
  split (`normalize: true`, the default) spreads it out again, and predict scales it the same way.
- 32-bit integer (I): / 65535 when every value is in 0..65535 (how older Pillow reads 16-bit PNGs);
  other values stop with the file and the range found, since no full scale can be known.
- 32-bit float (F, float TIFF): taken as-is when every value is in [0, 1]; values outside it (or
  NaN/inf) stop with the file and the range found: save such images as [0, 1] floats or as 8/16-bit
  integers. expkit never rescales one image by its own min/max, which would change what it shows.

Grayscale deeper images asked for as `channels: 3` repeat the gray channel, as Pillow does for 8-bit.
Scaling to [0, 1], normalisation and the training split's augmentation happen per batch: the
normalisation statistics are part of the checkpoint (`state_dict`), and a batch built after a
resume or in `predict` uses exactly the statistics the network was trained with.
"""

from __future__ import annotations

import csv
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from expkit.data.base import DataModule
from expkit.data.labelled import not_utf8, read_class_names, stratified_split
from expkit.errors import ConfigError, DataError

log = logging.getLogger("expkit")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ANNOTATIONS_FILE = "labels.csv"
CLASSES_FILE = "classes.txt"
PIL_MODES = {1: "L", 3: "RGB"}


# -- reading a labelled image folder ---------------------------------------------------------------
@dataclass
class ImageList:
    """What a labelled folder lists, before any image is decoded: files and raw labels, with the
    place each came from (`file:line` of the CSV, or the class subfolder) for error messages."""

    source: Path
    files: list[Path] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    class_names: list[str] | None = None  # fixed by a classes file or the subfolders, if known
    skipped: int = 0
    skipped_what: str = "blank lines"


def list_labelled_images(path: str | Path, classes_path: str | Path | None = None) -> ImageList:
    """The images and labels of an annotations CSV, a folder holding `labels.csv`, or a folder
    with one subfolder per class."""
    path = Path(path)
    if path.is_dir():
        if (path / ANNOTATIONS_FILE).is_file():
            return _with_classes(read_annotations(path / ANNOTATIONS_FILE), classes_path, path / CLASSES_FILE)
        return _with_classes(read_class_folders(path), classes_path, path / CLASSES_FILE)
    if path.is_file():
        return _with_classes(read_annotations(path), classes_path, path.parent / CLASSES_FILE)
    raise DataError(
        f"Image data {path} does not exist. Point data.train_path (or data.test_path) at an annotations CSV "
        f"(header `file,label`), a folder holding {ANNOTATIONS_FILE}, or a folder with one subfolder per class."
    )


def _with_classes(images: ImageList, classes_path: str | Path | None, beside: Path) -> ImageList:
    """Class names from `classes_path`, else from a classes.txt beside the data when there is one."""
    if classes_path is not None:
        images.class_names = read_class_names(classes_path)
    elif beside.is_file():
        images.class_names = read_class_names(beside)
    return images


def read_annotations(csv_path: Path) -> ImageList:
    """Rows of a `file,label` CSV; a malformed row or header stops with its file and line."""
    images = ImageList(csv_path)
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:  # -sig: a spreadsheet's byte-order mark
            # strict: a stray quote is an error at its line, not a silently different row.
            reader = csv.reader(f, strict=True)
            columns: dict[str, int] | None = None
            while True:
                line = reader.line_num + 1  # the row's first line (a quoted field may span several)
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as err:
                    raise DataError(
                        f"{csv_path}:{line}: unreadable CSV row ({err}). Check the quotes on line {line}: every field "
                        "that opens a quote must close it."
                    ) from None
                if any("\n" in cell or "\r" in cell for cell in row):
                    raise DataError(
                        f"{csv_path}:{line}: a quoted field that starts on line {line} runs on to line {reader.line_num} "
                        f"(an unclosed quote swallowing the rows after it). Close the quote on line {line}."
                    )
                if not row or not any(cell.strip() for cell in row):
                    images.skipped += 1
                    continue
                if columns is None:
                    names = [cell.strip().lower() for cell in row]
                    if "file" not in names or "label" not in names:
                        raise DataError(
                            f"{csv_path}:{line}: the header is {row!r}; an annotations CSV starts with a header line "
                            "naming its columns `file` and `label` (e.g. `file,label`), then one row per image."
                        )
                    columns = {"file": names.index("file"), "label": names.index("label")}
                    width = len(names)
                    continue
                if len(row) != width:
                    raise DataError(
                        f"{csv_path}:{line}: expected {width} columns like the header, found {len(row)}. "
                        "Fix or remove the row (quote file names that contain commas)."
                    )
                file, label = row[columns["file"]].strip(), row[columns["label"]].strip()
                if not file or not label:
                    raise DataError(f"{csv_path}:{line}: the row has an empty {'file' if not file else 'label'}; fill it in or remove the row.")
                images.files.append(csv_path.parent / file)
                images.labels.append(label)
                images.origins.append(f"{csv_path}:{line}")
    except UnicodeDecodeError:
        raise not_utf8(csv_path) from None
    if not images.files:
        raise DataError(f"{csv_path} lists no images; add rows `file,label` below the header.")
    return images


def read_class_folders(folder: Path) -> ImageList:
    """Image files of each class subfolder; other files (notes, .DS_Store) are skipped and counted."""
    images = ImageList(folder, skipped_what="files that are not images")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise DataError(
            f"{folder} has neither {ANNOTATIONS_FILE} nor class subfolders. Put each class's images in a subfolder "
            f"named after the class, or add an annotations CSV {ANNOTATIONS_FILE} (header `file,label`)."
        )
    for sub in subfolders:
        for file in sorted(sub.iterdir()):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith("."):
                images.files.append(file)
                images.labels.append(sub.name)
                images.origins.append(f"{sub}/")
            else:
                images.skipped += 1
    if not images.files:
        raise DataError(f"The class subfolders of {folder} hold no image files ({', '.join(IMAGE_SUFFIXES)}).")
    images.class_names = [p.name for p in subfolders]
    return images


def names_from_labels(labels: Sequence[str]) -> list[str]:
    """Class names when no classes file gives them: the distinct labels, in numeric order when
    they are all whole numbers (so labels 0..9 keep their meaning), else alphabetical."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def label_indices(images: ImageList, class_names: Sequence[str]) -> np.ndarray:
    """0-based class index of every label: a class name, else a whole number 0..n-1.

    A name wins over an index, so classes named "1", "2", ... are matched by name.
    """
    lookup = {name: i for i, name in enumerate(class_names)}
    out = np.empty(len(images.labels), dtype=np.int64)
    for row, (label, origin) in enumerate(zip(images.labels, images.origins)):
        index = lookup.get(label)
        if index is None and label.isdigit() and int(label) < len(class_names):
            index = int(label)
        if index is None:
            shown = ", ".join(class_names[:12]) + (", ..." if len(class_names) > 12 else "")
            raise DataError(
                f"{origin}: unknown label {label!r}. The classes are {shown} ({len(class_names)} of them); give a "
                f"class name or an index 0..{len(class_names) - 1}, or add the class to the classes file."
            )
        out[row] = index
    return out


def pixel_full_scale(img: Any, where: str, path: Path) -> float | None:
    """The value that means "full intensity" for an image deeper than 8 bits, None for 8-bit
    modes (Pillow converts those itself). See the module docstring for the rules."""
    mode = img.mode
    if mode.startswith("I;16"):
        return 65535.0
    if mode not in ("I", "F"):
        return None
    values = np.asarray(img)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode == "I" and 0 <= low and high <= 65535:
        return 65535.0
    if mode == "F" and np.isfinite(values).all() and 0 <= low and high <= 1:
        return 1.0
    kind = "32-bit integer" if mode == "I" else "32-bit float"
    wanted = "0..65535" if mode == "I" else "[0, 1] (and finite)"
    raise DataError(
        f"{where}image {path} is {kind} (Pillow mode {mode}) with values from {low:g} to {high:g}; expkit reads "
        f"such images only in {wanted}, since their full scale is otherwise unknown. Save it as [0, 1] floats "
        "or as 8/16-bit integers, or remove it."
    )


def load_image(path: Path, channels: int, size: tuple[int, int], origin: str | None = None) -> np.ndarray:
    """One image as `[channels, height, width]`: uint8 for 8-bit images, float32 in [0, 1] for
    deeper ones (16-bit, 32-bit integer or float), converted and resized with Pillow."""
    from PIL import Image, UnidentifiedImageError

    where = f"{origin}: " if origin else ""
    if not path.is_file():
        what = "is a folder, not an image file" if path.is_dir() else "does not exist"
        fix = "fix the path (relative to the CSV's folder) or remove the row" if origin else "give the path of an image file"
        raise DataError(f"{where}image file {path} {what}; {fix}.")
    try:
        with Image.open(path) as img:
            full_scale = pixel_full_scale(img, where, path)
            # Deeper images go through Pillow's float mode: convert("L") would clip them at 255.
            img = img.convert(PIL_MODES[channels] if full_scale is None else "F")
            if img.size != (size[1], size[0]):  # Pillow sizes are (width, height)
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            if full_scale is None:
                pixels = np.asarray(img, dtype=np.uint8)
            else:
                # Bilinear weights are a convex combination, so [0, full_scale] stays in range.
                pixels = np.clip(np.asarray(img, dtype=np.float32) / np.float32(full_scale), 0, 1)
    except Image.DecompressionBombError as err:  # Pillow's guard against a tiny file that decodes to gigabytes
        raise DataError(f"{where}image {path} is too large to decode safely ({err}); shrink it or remove it.") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{where}cannot read image {path} ({err}); replace the file or remove it.") from None
    if pixels.ndim == 2:  # one band: grayscale, or a deeper image repeated into each asked-for channel
        return np.repeat(pixels[None], channels, axis=0)
    return pixels.transpose(2, 0, 1).copy()  # writable: Pillow's buffer is read-only


def unit_range(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoded pixels as float32 in [0, 1]: uint8 divided by 255, deeper images as they are
    (already scaled by `load_image`; returned without a copy)."""
    pixels = torch.as_tensor(pixels)
    return pixels.float().div_(255) if pixels.dtype == torch.uint8 else pixels.float()  # .float() of uint8 is a new tensor


def decode_images(images: ImageList, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """Every listed image, decoded once, as one tensor `[N, channels, H, W]`: uint8 while every
    image is 8-bit, float32 in [0, 1] from the first deeper image on (earlier rows rescaled)."""
    out = np.empty((len(images.files), channels, *size), dtype=np.uint8)
    for row, (file, origin) in enumerate(zip(images.files, images.origins)):
        pixels = load_image(file, channels, size, origin)
        if pixels.dtype != out.dtype:
            if out.dtype == np.uint8:
                out = out.astype(np.float32) / np.float32(255)
            else:
                pixels = pixels.astype(np.float32) / np.float32(255)
        out[row] = pixels
    return torch.from_numpy(out)


# -- batches ---------------------------------------------------------------------------------------
@dataclass
class ImageSet:
    """A split: images `[N, C, H, W]` (uint8, or float32 in [0, 1]; see `decode_images`) and their class indices."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


class ImageBatches(Dataset):
    """A split whose `dataset[list_of_rows]` is a whole batch `(images, labels)`: one index
    operation, scaling to [0, 1], normalisation, and (training split only) augmentation.

    The augmentation's random numbers are drawn from the batch's rows and `seed`; the rows come
    from expkit's (seed, epoch) sampler, so a resumed run sees the same augmented batches.
    """

    def __init__(
        self, data: ImageSet, mean: torch.Tensor, std: torch.Tensor, shift: int = 0, flip: bool = False, seed: int = 0
    ) -> None:
        self.data, self.mean, self.std = data, mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.shift, self.flip, self.seed = shift, flip, seed

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(rows, dtype=torch.long)
        x = unit_range(self.data.images[index])
        if self.shift or self.flip:
            gen = torch.Generator().manual_seed(zlib.crc32(index.numpy().tobytes()) ^ self.seed)
            x = augment(x, self.shift, self.flip, gen)
        return (x - self.mean) / self.std, self.data.labels[index]


def augment(x: torch.Tensor, shift: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to `shift` pixels each way (edges repeated), and mirror half of
    them left-right when `flip` (wrong for digits and text, fine for most photographs)."""
    n, c, h, w = x.shape
    if shift:
        padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    if flip:
        mirror = torch.rand(n, generator=gen) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x


# -- the data module -------------------------------------------------------------------------------
def _size_pair(image_size: int | Sequence[int]) -> tuple[int, int]:
    values = [image_size] if isinstance(image_size, int) else list(image_size)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ConfigError(f"data.image_size={image_size!r}: use one whole number >= 1 (square) or [height, width].")
    return values[0], values[1]


def _per_channel(value: float | Sequence[float] | None, channels: int, key: str) -> list[float] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (int, float)) else list(value)
    if len(values) == 1:
        values = values * channels
    if len(values) != channels or not all(isinstance(v, (int, float)) for v in values):
        raise ConfigError(f"data.{key}={value!r}: give one number, or one per channel ({channels}).")
    return [float(v) for v in values]


class ImageFolderDataModule(DataModule):
    """Labelled images from a folder (annotations CSV or class subfolders); see the module docstring.

    Splits: `train_path` is split train/val/test by seeded, stratified fractions (80/10/10 by
    default); with a `test_path` (another CSV or folder, same layouts) the test split is that
    data instead and `test_fraction` is ignored.

    Normalisation (`normalize: true`): pixels scaled to [0, 1], then `(x - mean) / std` per
    channel, with `mean`/`std` given or, left null, computed from the train split (never from
    val/test). Augmentation applies to the training split only: `augment_shift` pixels of random
    translation and `augment_flip` left-right mirroring, both off by default.
    """

    task_type = "classification"
    input_formats = ("image",)
    model_dims_keys = ("in_channels", "image_size", "num_classes")
    task_facts_keys = ("num_classes", "class_names")

    def __init__(
        self,
        train_path: str | None,
        classes_path: str | None = None,
        test_path: str | None = None,
        image_size: int | Sequence[int] = 64,
        channels: int = 3,
        normalize: bool = True,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        augment_shift: int = 0,
        augment_flip: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 42,
        batch_size: int | None = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers)
        if channels not in PIL_MODES:
            raise ConfigError(f"data.channels={channels!r}: use 1 (grayscale) or 3 (RGB).")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ConfigError(
                f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) "
                "and leave images to train on (sum < 1)."
            )
        if isinstance(augment_shift, bool) or not isinstance(augment_shift, int) or augment_shift < 0:
            raise ConfigError(f"data.augment_shift={augment_shift!r}: use a whole number of pixels >= 0 (0: off).")
        self.train_path, self.classes_path, self.test_path = train_path, classes_path, test_path
        self.image_size = _size_pair(image_size)
        self.channels = channels
        self.normalize = bool(normalize)
        self.mean = _per_channel(mean, channels, "mean")
        self.std = _per_channel(std, channels, "std")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ConfigError(f"data.std={std!r}: standard deviations must be > 0.")
        self.augment_shift, self.augment_flip = augment_shift, bool(augment_flip)
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.class_names: list[str] = []
        self.counts: dict[str, dict[str, int]] = {}  # per file read: images read and rows skipped

    # -- Lightning hooks -------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if stage == "test" and self.test_path and self.class_names and self._stats_known():
            # Evaluating a trained run on other data: the checkpoint's classes and statistics are
            # all that is needed, so the training folder is not read (it may not exist here).
            self.splits = {"test": self._decode(list_labelled_images(self.test_path))}
            self._log_sizes()
            return
        if not self.train_path:
            raise ConfigError("data.train_path must be set to an annotations CSV or an image folder.")
        images = list_labelled_images(self.train_path, self.classes_path)
        names = images.class_names or names_from_labels(images.labels)
        if len(names) < 2:
            raise DataError(f"{images.source}: found {len(names)} class; a classifier needs at least 2.")
        if self.class_names and self.class_names != names:
            # Resuming: the checkpoint's class order is what the network's outputs mean.
            log.warning("The classes in %s differ from the checkpoint's; using the checkpoint's.", images.source)
        self.class_names = self.class_names or names
        train = self._decode(images)
        fractions = [self.val_fraction] if self.test_path else [self.val_fraction, self.test_fraction]
        rows = stratified_split(train.labels.numpy(), fractions, self.split_seed)
        self.splits = {name: ImageSet(train.images[idx], train.labels[idx]) for name, idx in zip(("train", "val", "test"), rows)}
        if self.test_path:
            self.splits["test"] = self._decode(list_labelled_images(self.test_path))
        if len(self.splits["train"]) == 0:
            raise DataError(f"{images.source}: no images are left to train on after the val/test split; add images.")
        if self.normalize and self.mean is None:
            self.mean = unit_range(self.splits["train"].images).mean(dim=(0, 2, 3)).tolist()
        if self.normalize and self.std is None:
            std = unit_range(self.splits["train"].images).std(dim=(0, 2, 3))
            self.std = torch.where(std > 0, std, torch.ones_like(std)).tolist()  # a constant channel stays as it is
        self._log_sizes()

    def _decode(self, images: ImageList) -> ImageSet:
        """Decode a listed folder, its labels read against the known class names."""
        labels = label_indices(images, self.class_names)
        data = ImageSet(decode_images(images, self.channels, self.image_size), torch.from_numpy(labels))
        self.counts[str(images.source)] = {"read": len(images.files), "skipped": images.skipped}
        log.info(
            "Images: read %d from %s (skipped %d %s)", len(images.files), images.source, images.skipped, images.skipped_what
        )
        return data

    def _log_sizes(self) -> None:
        sizes = ", ".join(f"{name} {len(data)}" for name, data in self.splits.items())
        log.info("Data: %s images of %dx%d, %d channel(s), %d classes", sizes, *self.image_size, self.channels, len(self.class_names))

    def _stats_known(self) -> bool:
        return not self.normalize or (self.mean is not None and self.std is not None)

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.normalize:
            return torch.zeros(self.channels), torch.ones(self.channels)
        if self.mean is None or self.std is None:
            raise RuntimeError("normalisation statistics are unknown: call setup() or load_state_dict() first")
        return torch.tensor(self.mean), torch.tensor(self.std)

    def batches(self, split: str) -> Dataset:
        mean, std = self._stats()
        if split == "train":
            return ImageBatches(self.splits[split], mean, std, self.augment_shift, self.augment_flip, self.split_seed)
        return ImageBatches(self.splits[split], mean, std)

    # -- what the model and task need --------------------------------------------------------------
    def model_dims(self) -> dict[str, Any]:
        if not self.class_names:
            raise RuntimeError("model_dims() needs the class names: call setup() or load_state_dict() first")
        return {"in_channels": self.channels, "image_size": list(self.image_size), "num_classes": len(self.class_names)}

    def task_facts(self) -> dict[str, Any]:
        return {"num_classes": len(self.class_names), "class_names": list(self.class_names)}

    def predict_inputs(self, items: Sequence[str]) -> tuple[torch.Tensor]:
        """Image files given on the command line, preprocessed as the validation split is."""
        pixels = [unit_range(load_image(Path(item), self.channels, self.image_size)) for item in items]
        x = torch.stack(pixels) if pixels else torch.empty((0, self.channels, *self.image_size))
        mean, std = self._stats()
        return ((x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1),)

    # -- checkpoint -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain containers only (checkpoints load with weights_only=True): enough to predict."""
        return {
            "class_names": list(self.class_names),
            "channels": self.channels,
            "image_size": list(self.image_size),
            "normalize": self.normalize,
            "mean": self.mean,
            "std": self.std,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.class_names = list(state["class_names"])
        self.channels = int(state["channels"])
        self.image_size = _size_pair(list(state["image_size"]))
        self.normalize = bool(state["normalize"])
        self.mean = list(state["mean"]) if state.get("mean") is not None else None
        self.std = list(state["std"]) if state.get("std") is not None else None
