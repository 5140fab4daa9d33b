"""Reading text-classification CSVs in the DBpedia/AG News layout: `label,"title","content"`."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from expkit.errors import DataError

PACKAGED_DATA = Path(__file__).resolve().parent


def packaged_data_path(relative: str) -> str:
    """Absolute path of a file shipped inside the package (e.g. `dbpedia_sample/sample.csv`)."""
    path = PACKAGED_DATA / relative
    if not path.exists():
        raise DataError(f"The packaged data file {relative!r} does not exist in {PACKAGED_DATA}; reinstall expkit.")
    return str(path)


def read_class_names(path: str | Path) -> list[str]:
    """One class name a line; line 1 is label 1."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Class-name file {path} does not exist; point `data.classes_path` at a classes.txt (one name a line).")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) < 2:
        raise DataError(f"{path}: found {len(names)} class names; a classifier needs at least 2 (one a line).")
    return names


def read_labeled_csv(
    path: str | Path, num_classes: int, text_fields: Sequence[str] = ("title", "content")
) -> tuple[np.ndarray, list[str]]:
    """Labels (0-based) and texts of a `label,"title","content"` CSV.

    The texts join the chosen fields with a space; an empty title (as in the embedded sample)
    adds nothing. A malformed row stops with its file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; check `data.train_path` / `data.test_path`.")
    columns = {"title": 1, "content": 2}
    unknown = [f for f in text_fields if f not in columns]
    if unknown or not text_fields:
        raise DataError(f"data.text_fields={list(text_fields)}: use one or both of 'title', 'content'.")
    picks = [columns[f] for f in text_fields]
    try:
        labels, texts = _read_rows(path, num_classes, picks)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8.") from None
    except csv.Error as err:
        raise DataError(f"{path}: unreadable CSV ({err}); check quoting on the reported line.") from None
    if not texts:
        raise DataError(f"{path} has no rows.")
    return np.asarray(labels, dtype=np.int64), texts


def _read_rows(path: Path, num_classes: int, picks: list[int]) -> tuple[list[int], list[str]]:
    """0-based labels and joined texts of the CSV's rows; a malformed row is a DataError."""
    labels: list[int] = []
    texts: list[str] = []
    # utf-8-sig: a byte-order mark written by spreadsheet programs is not part of the first label.
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            line = reader.line_num
            if not row:
                continue  # blank lines (e.g. a trailing newline) carry no row
            if len(row) != 3:
                raise DataError(
                    f"{path}:{line}: expected 3 columns label,\"title\",\"content\", found {len(row)}. "
                    "Fix or remove the row (quote fields that contain commas)."
                )
            try:
                label = int(row[0])
            except ValueError:
                raise DataError(f"{path}:{line}: label {row[0]!r} is not a number; labels are 1..{num_classes}.") from None
            if not 1 <= label <= num_classes:
                raise DataError(
                    f"{path}:{line}: label {label} is outside 1..{num_classes} (the classes file has {num_classes} names). "
                    "Fix the row or the classes file."
                )
            labels.append(label - 1)
            texts.append(" ".join(row[i] for i in picks if row[i]))
    return labels, texts


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Split row indices into len(fractions)+1 parts, each class in the same proportions.

    Returns [rest, part_1, ..., part_k] where part_i holds round(n_c * fractions[i]) rows of
    every class c; the order inside each part is shuffled by `seed`, so the split depends on
    the seed and the labels alone.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        start = 0
        for i, frac in enumerate(fractions, start=1):
            n = int(round(len(idx) * frac))
            parts[i].append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
    out = []
    for chunks in parts:
        joined = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        out.append(np.sort(joined))
    return out
