"""Reading text-classification CSVs in the DBpedia/AG News layout: `label,"title","content"`."""

from __future__ import annotations

import csv
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from expkit.data.labelled import file_problem, not_utf8
from expkit.errors import DataError

log = logging.getLogger("expkit")

# The longest field a CSV may hold, in characters. Python's default (131,072) refuses a long
# article; a field of many megabytes is a broken file (an unterminated quote swallowing the rest
# of it), not a document.
MAX_FIELD_CHARS = 4 * 1024 * 1024
# A row start (`label,`) right after a line break inside a quoted field: the quote was never
# closed and the field swallowed the rows that follow.
SWALLOWED_ROW = re.compile(r"\n\s*\d+,")


@dataclass
class ReadReport:
    """What loading one data file did with its lines: rows kept, blank lines skipped, and rows
    whose text is empty (kept: their label still counts, but the model sees nothing)."""

    rows: int = 0
    blank_lines: int = 0
    empty_texts: int = 0

    def text(self, path: Path) -> str:
        parts = [f"{self.rows} rows read", f"{self.blank_lines} blank lines skipped", "0 refused"]
        if self.empty_texts:
            parts.append(f"{self.empty_texts} rows with empty text")
        return f"{path}: " + ", ".join(parts)


@contextmanager
def field_size_limit(limit: int) -> Iterator[None]:
    """csv's process-wide field limit, raised for the block only."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def require_data_file(path: str | Path) -> Path:
    """`path` as a Path when it is a readable file; a DataError naming the keys otherwise."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise DataError(f"Data file {path} {problem}; check `data.train_path` / `data.test_path` (a CSV file).")
    return path


def read_labeled_csv(
    path: str | Path, num_classes: int, text_fields: Sequence[str] = ("title", "content")
) -> tuple[np.ndarray, list[str]]:
    """Labels (0-based) and texts of a `label,"title","content"` CSV.

    The texts join the chosen fields with a space; an empty title (as in the embedded sample)
    adds nothing. A malformed row stops with its file and line number.
    """
    path = require_data_file(path)
    columns = {"title": 1, "content": 2}
    unknown = [f for f in text_fields if f not in columns]
    if unknown or not text_fields:
        raise DataError(f"data.text_fields={list(text_fields)}: use one or both of 'title', 'content'.")
    picks = [columns[f] for f in text_fields]
    report = ReadReport()
    try:
        with field_size_limit(MAX_FIELD_CHARS):
            labels, texts = _read_rows(path, num_classes, picks, report)
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    log.info("Data: %s", report.text(path))
    if not texts:
        raise DataError(f"{path} has no rows.")
    if report.empty_texts == len(texts):
        raise DataError(
            f"{path}: the text of all {len(texts)} rows is empty (fields {list(text_fields)}), so there is nothing to "
            "learn from. Check the file's columns (label,\"title\",\"content\") and data.text_fields."
        )
    if report.empty_texts:
        log.warning("%s: %d of %d rows have empty text; they are kept but carry no tokens.", path, report.empty_texts, len(texts))
    return np.asarray(labels, dtype=np.int64), texts


def _read_rows(path: Path, num_classes: int, picks: list[int], report: ReadReport) -> tuple[list[int], list[str]]:
    """0-based labels and joined texts of the CSV's rows; a malformed row is a DataError."""
    labels: list[int] = []
    texts: list[str] = []
    # utf-8-sig: a byte-order mark written by spreadsheet programs is not part of the first label.
    with open(path, encoding="utf-8-sig", newline="") as f:
        # strict: a stray quote is an error at its line, not a silently different row.
        reader = csv.reader(f, strict=True)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                reason = str(err)
                if "field larger than field limit" in reason:
                    reason = (f"a field longer than {MAX_FIELD_CHARS:,} characters, which is an unclosed quote "
                              "rather than a document")
                raise DataError(
                    f"{path}:{start}: unreadable CSV row ({reason}). Check the quotes from line {start} on: every "
                    "field that opens a quote must close it."
                ) from None
            line = reader.line_num  # the row's last line; `start` is its first
            if not row:
                report.blank_lines += 1
                continue  # blank lines (e.g. a trailing newline) carry no row
            swallowed = next((field for field in row if SWALLOWED_ROW.search(field)), None)
            if swallowed is not None:
                raise DataError(
                    f"{path}:{start}: a quoted field that starts on line {start} runs on to line {line} and holds what "
                    "look like further rows (an unclosed quote). Close the quote on line "
                    f"{start}; no rows were loaded."
                )
            nul = next((field for field in row if "\x00" in field), None)
            if nul is not None:
                # Text never holds NUL; a file that does is binary, cut short, or UTF-16 (every
                # other byte NUL), and its rows would be read as text that is not there.
                raise DataError(
                    f"{path}:{start}: a NUL byte (\\x00) in a field, at character {nul.index(chr(0)) + 1}; text files "
                    "hold none. The file may be binary, damaged, or saved as UTF-16: save it as UTF-8 text."
                )
            if len(row) != 3:
                raise DataError(
                    f"{path}:{start}: expected 3 columns label,\"title\",\"content\", found {len(row)}. "
                    "Fix or remove the row (quote fields that contain commas)."
                )
            try:
                label = int(row[0])
            except ValueError:
                raise DataError(f"{path}:{start}: label {row[0]!r} is not a number; labels are 1..{num_classes}.") from None
            if not 1 <= label <= num_classes:
                raise DataError(
                    f"{path}:{start}: label {label} is outside 1..{num_classes} (the classes file has {num_classes} names). "
                    "Fix the row or the classes file."
                )
            labels.append(label - 1)
            text = " ".join(row[i] for i in picks if row[i])
            report.rows += 1
            report.empty_texts += not text.strip()
            texts.append(text)
    return labels, texts
