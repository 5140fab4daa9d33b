"""What any labelled dataset needs, whatever its examples are (text rows, images): files shipped
in the package, a class-name file, a clear error for text that is not UTF-8, and a stratified split."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Sequence

import numpy as np

from expkit.config_files import PACKAGED_DATA, packaged_data_path  # noqa: F401 - located there, used from here too
from expkit.errors import DataError


def file_problem(path: Path) -> str | None:
    """What keeps `path` from being read as a regular file ("is a folder, not a file", ...), or
    None when it can be read. A FIFO would block the read forever and a device would never end,
    so only regular files pass; the wording tells a link loop from a file that is not there."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"is a broken symbolic link (to {os.readlink(path)})" if path.is_symlink() else "does not exist"
    except OSError as err:  # ELOOP (a symbolic link loop), ENAMETOOLONG, EACCES on a parent folder
        return f"cannot be reached ({err.strerror or err})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"is {kind}, not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def first_bad_utf8(path: Path) -> tuple[int, int, str]:
    """(line, column, bytes) of the first byte sequence of `path` that is not UTF-8."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return number, err.start + 1, raw[err.start : err.end].hex(" ")
    return 0, 0, ""


def not_utf8(path: Path) -> DataError:
    line, column, shown = first_bad_utf8(path)
    return DataError(
        f"{path}:{line}: not UTF-8 text (byte {shown} at column {column} of line {line}); save the file as UTF-8."
    )


def read_class_names(path: str | Path) -> list[str]:
    """One class name a line; line 1 is label 1."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise DataError(f"Class-name file {path} {problem}; point `data.classes_path` at a classes.txt (one name a line).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()  # trailing blank lines end the file; they name no class
    names, seen = [], {}
    for number, name in enumerate(lines, 1):
        # A line's position is its label: a blank line inside the list, or a name given twice,
        # would silently shift or merge every label after it.
        if not name:
            raise DataError(
                f"{path}:{number}: a blank line among the class names; line N names label N, so a blank line would "
                f"shift every label after it. Delete the line (or put the missing class's name there)."
            )
        if name in seen:
            raise DataError(
                f"{path}:{number}: the class name {name!r} is also on line {seen[name]}; each label needs its own name "
                "(line N names label N)."
            )
        seen[name] = number
        names.append(name)
    if len(names) < 2:
        raise DataError(f"{path}: found {len(names)} class names; a classifier needs at least 2 (one a line).")
    return names


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


def stratified_fold_split(
    labels: np.ndarray, folds: int, fold: int, val_fraction: float, seed: int
) -> list[np.ndarray]:
    """[train, val, test] row indices for cross-validation fold `fold` (0-based) of `folds`.

    Every row is in exactly one fold's test part: each class's rows are shuffled by `seed`, the
    classes are laid end to end and row k of that order goes to fold k % folds, so every fold
    holds each class in the same proportion (within one row) and the folds' sizes differ by at
    most one. The rows outside the test fold are split into train/val by `stratified_split` with
    `val_fraction` (a fraction of those rows) and the same seed: one fold's split depends on the
    labels, `folds`, `fold`, `val_fraction` and `seed` alone, so every system given these keys
    trains, picks and tests on the same rows.
    """
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [idx[rng.permutation(len(idx))] for idx in (np.flatnonzero(labels == c) for c in np.unique(labels))]
        or [np.empty(0, dtype=np.int64)]
    )
    test = np.sort(order[np.arange(len(order)) % folds == fold])
    rest = np.setdiff1d(np.arange(len(labels)), test)
    train, val = stratified_split(labels[rest], [val_fraction], seed)
    return [rest[train], rest[val], test]
