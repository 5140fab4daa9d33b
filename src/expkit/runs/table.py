"""A table of run folders: rows (runs or groups of runs) rendered as json, csv, Markdown or a
rich table that fits the terminal.

Used by `expkit runs`, `expkit diff` and the sweep summary; kept free of argparse (and of
torch/Lightning imports) so that each can reuse the readers, the columns and the renderers:

- expkit.runs.collect: finding run folders and reading each into a `RunRow` (`read_run`)
- expkit.runs.config_keys: which config keys could be parameters
- expkit.runs.sorting: filtering and sorting rows, the best run of each experiment
- expkit.runs.columns: the columns and their cells
- expkit.runs.grouping: multi-seed statistics, one row per group of runs
- here: rendering
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable, Sequence

from expkit.runs.columns import COLUMNS, LEAST_NEEDED, Column, cell_text, row_values


# ---------------------------------------------------------------------------------------------
# Rendering


def to_records(rows: Iterable[Any], columns: Sequence[Column] = COLUMNS) -> list[dict[str, Any]]:
    """Rows as plain dicts keyed by column key; NaN/inf become None so the result is valid JSON."""
    return [{c.key: json_safe(v) for c, v in zip(columns, row_values(row, columns))} for row in rows]


def render_json(rows: Iterable[Any], columns: Sequence[Column] = COLUMNS) -> str:
    """A JSON list of objects, one per row."""
    return json.dumps(to_records(rows, columns), indent=2) + "\n"


def render_csv(rows: Iterable[Any], columns: Sequence[Column] = COLUMNS) -> str:
    """CSV with a header line of column keys; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        cells = []
        for column, value in zip(columns, row_values(row, columns)):
            if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append("" if value is None else value)  # full precision for programs
            else:
                cells.append(column.text(value) if column.text else cell_text(value))
        writer.writerow(cells)
    return buffer.getvalue()


def render_markdown(rows: Iterable[Any], columns: Sequence[Column] = COLUMNS) -> str:
    """A Markdown pipe table; numbers shortened as in the rich table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c.header) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(c.cell(row)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_rich_table(title: str, rows: Iterable[Any], columns: Sequence[Column] = COLUMNS, width: int | None = None,
                     fit_by_dropping: bool = False, wide: bool = False, notes: Sequence[str] = ()) -> None:
    """The rows as a rich table on stdout, one line per row, that fits the output's width
    (expkit.report: cells shortened with an ellipsis, run folders never).

    When shortened cells do not fit either, columns are left out and named under the table: with
    `fit_by_dropping` (the default and grouped columns) the LEAST_NEEDED ones first, then the
    others from the right; otherwise (columns a user chose) only from the right. Columns marked
    `always` stay. `wide` shows every column in full.
    """
    from expkit.report import TableColumn, print_fitted_table

    columns = list(columns)
    rows = list(rows)
    least = LEAST_NEEDED if fit_by_dropping else ()

    def rank(index: int, column: Column) -> int | None:
        if column.always:
            return None
        return least.index(column.key) if column.key in least else len(least) + len(columns) - index

    # A number or a time cut short would read as another value: such columns are left out whole.
    shown = [TableColumn(c.header, [c.cell(row) for row in rows], whole=c.whole or c.numeric, drop_rank=rank(i, c),
                         numeric=c.numeric)
             for i, c in enumerate(columns)]
    print_fitted_table(title, shown, width=width, notes=notes, wide=wide)


def json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value

