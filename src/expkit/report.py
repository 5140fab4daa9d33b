"""What the commands print: the composed config in a few lines, metric tables.

Tables use the width of the output: `COLUMNS` when it is set, else the terminal's width, else
(output piped or redirected) no limit at all. Every table prints one line per row, whatever the
width: rich narrows the columns that may be shortened and ends their cut cells with an ellipsis;
columns that must stay whole (a run folder to copy) never are; when that is not enough, the
least needed columns are left out and named under the table (`print_fitted_table`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence, TextIO


def print_config_summary(choices: Mapping[str, Any], overrides: Sequence[str], stream: TextIO | None = None) -> None:
    """The run's config in a few lines: the option chosen in each config group (Hydra's
    `hydra.runtime.choices`, without Hydra's own groups) and the command line's overrides. The
    whole composed config is `--cfg job` away, and is written to .hydra/resolved.yaml."""
    stream = stream or sys.stdout
    chosen = [f"{group}={option}" for group, option in choices.items()
              if str(group).split("/", 1)[0] != "hydra" and option is not None]
    print("Config: " + " ".join(chosen), file=stream)
    print("Overrides: " + (" ".join(overrides) or "none"), file=stream)
    print("(the whole config: add --cfg job; the run folder keeps it in .hydra/resolved.yaml)", file=stream)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def output_width(stream: TextIO | None = None) -> int | None:
    """The width tables may use: `COLUMNS`, else the terminal's width, else None (no limit)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class TableColumn:
    """One column of a printed table, its cells already text.

    `whole`: never shortened (a run folder someone copies, a diff's key, a number); the other
    columns are cut with an ellipsis when the table is too wide. `drop_rank`: columns that may be
    left out when even shortened columns do not fit, the lowest rank first (None: always shown).
    Numbers are right-aligned."""

    header: str
    cells: Sequence[str]
    whole: bool = False
    drop_rank: int | None = None
    numeric: bool = False

    def natural_width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)] or [1])

    def narrowest(self) -> int:
        """The least width this column is given: its whole width, or a readable stub of it."""
        if self.whole:
            return self.natural_width()
        return min(self.natural_width(), max(len(self.header), SHORTEST_CELL))


# A shortened cell keeps at least this many characters (with its ellipsis), enough to recognise it.
SHORTEST_CELL = 10


def fitted_columns(columns: Sequence[TableColumn], width: int | None) -> tuple[list[TableColumn], list[TableColumn]]:
    """(shown, left out): the columns that fit `width` once shortened, dropping the lowest
    `drop_rank` first. Each cell takes its width plus 3 characters of border and padding."""
    shown = list(columns)
    left_out: list[TableColumn] = []
    if width is None:
        return shown, left_out
    while 3 * len(shown) + 1 + sum(c.narrowest() for c in shown) > width:
        droppable = [c for c in shown if c.drop_rank is not None]
        if not droppable:
            break
        drop = min(droppable, key=lambda c: c.drop_rank)
        shown.remove(drop)
        left_out.append(drop)
    return shown, left_out


def print_fitted_table(title: str, columns: Sequence[TableColumn], width: int | None = None, notes: Sequence[str] = (),
                       wide: bool = False) -> None:
    """`columns` as one rich table of one line per row that fits `width` (default: output_width()).

    No cell breaks over lines: rich narrows the widest shortenable columns first and cuts their
    cells with an ellipsis (its `overflow="ellipsis"`); when that is not enough, columns with a
    `drop_rank` are left out and named under the table. `wide` shows every column in full.
    `notes` are printed under the table (a legend)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    width = None if wide else (output_width() if width is None else width)
    shown, left_out = fitted_columns(columns, width)
    table = Table()
    for column in shown:
        # Whole columns do not take part in rich's narrowing (no_wrap); the others do, and
        # their cells, one line each (Text.no_wrap), end in an ellipsis when cut.
        table.add_column(Text(column.header, no_wrap=True, overflow="ellipsis"), no_wrap=column.whole,
                         justify="right" if column.numeric else "left", overflow="ellipsis")
    for i in range(max((len(c.cells) for c in shown), default=0)):
        # Text, not str: "[...]" in an override is a value, not rich markup.
        table.add_row(*(Text(c.cells[i], no_wrap=True, overflow="ellipsis") for c in shown))
    needed = 3 * len(shown) + 1 + sum(c.narrowest() for c in shown)
    full = 3 * len(shown) + 1 + sum(c.natural_width() for c in shown)
    # Whole columns wider than the terminal still print whole: a cut run folder cannot be copied.
    console = Console(width=full if width is None else max(min(width, full), needed), soft_wrap=False)
    # The title may name a folder: one line, whole, that the terminal wraps if it must.
    console.print(title, highlight=False, soft_wrap=True, markup=False)
    console.print(table)
    if left_out:
        names = ", ".join(c.header for c in left_out)
        notes = [*notes, f"Not shown at {width} columns: {names} (--wide or a wider terminal shows them)."]
    # Notes are words: wrapped at the output's width, between words; whole lines where the output
    # has no width (piped, --wide): rich's soft wrap still crops a line at its default 80 columns.
    prose = Console(width=width) if width is not None else None
    for note in notes:
        if prose is None:
            print(note, flush=True)
        else:
            prose.print(note, highlight=False, markup=False, overflow="fold")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table of values (numbers shortened by format_value) that fits the output's width; the
    first column (what each row is) is kept whole."""
    cells = [[format_value(v) for v in row] for row in rows]
    print_fitted_table(title, [TableColumn(h, [r[i] for r in cells], whole=i == 0) for i, h in enumerate(columns)])


def print_metrics(title: str, metrics: Mapping[str, Any]) -> None:
    names = sorted(k for k, v in metrics.items() if "/" in k and isinstance(v, (int, float)))
    print_table(title, ["metric", "value"], [(name, metrics[name]) for name in names])
