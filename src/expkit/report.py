"""What the commands print: the composed config as a tree, metric tables.

Tables use the width of the output: `COLUMNS` when it is set, else the terminal's width, else
(output piped or redirected) no limit at all, so that a file or `grep` gets one line per row.
Cells wrap at the places a reader expects (spaces, after `/` and `,` in paths) and are never
cut: a table always keeps its right border and every character of every cell.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Iterable, Mapping, Sequence, TextIO

from omegaconf import DictConfig, OmegaConf

# Groups first, in the order a reader thinks of a run; the rest follow as they come.
TREE_ORDER = ("data", "model", "task", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths")

# How a column's cells may break across lines (see wrap_cell).
WORDS = "words"  # at spaces; an override list is space-separated, so it breaks between overrides
PATH = "path"  # after "/" or ","; a sweep job's folder name is `<n>_key=value,key=value`
ATOM = "atom"  # numbers, statuses, timestamps: at spaces, and only when nothing else fits


def print_config_tree(cfg: DictConfig) -> None:
    from rich import print as rprint
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    keys = [k for k in TREE_ORDER if k in cfg] + [k for k in cfg if k not in TREE_ORDER]
    for key in keys:
        node = cfg[key]
        branch = tree.add(f"[bold]{key}[/bold]")
        if isinstance(node, DictConfig):
            text = OmegaConf.to_yaml(node, resolve=True).rstrip() or "{}"
        else:
            text = str(node)
        branch.add(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rprint(tree)


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


def _pieces(text: str, kind: str) -> list[str]:
    """`text` cut at its break opportunities; the pieces joined give `text` back."""
    if kind == PATH:
        return [p for p in re.split(r"(?<=[/,])", text) if p]
    return text.split()


def wrap_cell(text: str, width: int, kind: str) -> list[str]:
    """`text` as lines of at most `width` characters, broken at its break opportunities, and
    inside a piece only when that piece alone is wider than `width`. Nothing is dropped: for
    WORDS and ATOM the lines joined with spaces, for PATH the lines joined directly, give `text`."""
    width = max(width, 1)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        sep = "" if kind == PATH else " "
        line = ""
        for piece in _pieces(paragraph, kind):
            candidate = line + sep + piece if line and sep else line + piece
            if len(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while len(piece) > width:
                lines.append(piece[:width])
                piece = piece[width:]
            line = piece
        lines.append(line)
    return lines


def _longest_piece(texts: Iterable[str], kind: str) -> int:
    return max((len(p) for t in texts for line in t.split("\n") for p in _pieces(line, kind)), default=0)


def column_widths(headers: Sequence[str], cells: Sequence[Sequence[str]], kinds: Sequence[str], room: int | None) -> list[int] | None:
    """Content widths for a table with `room` characters of content (borders and padding excluded),
    or None when the columns cannot fit without breaking overrides or headers inside a word.

    Each column starts at its natural width. When that is too wide, the widest WORDS and PATH
    columns are narrowed first, none below its longest piece; then ATOM columns down to their
    longest word (a timestamp takes two lines, a header wraps at its spaces).
    """
    natural = [max(1, *(len(line) for t in [h, *(row[i] for row in cells)] for line in t.split("\n")))
               for i, h in enumerate(headers)]
    if room is None or sum(natural) <= room:
        return natural
    header_min = [_longest_piece([h], WORDS) for h in headers]
    soft, word_min = [], []
    for i, kind in enumerate(kinds):
        column = [row[i] for row in cells]
        longest = max((len(x) for x in column), default=0) if kind == ATOM else _longest_piece(column, kind)
        soft.append(min(natural[i], max(longest, header_min[i], 1)))
        word_min.append(min(natural[i], max(_longest_piece(column, WORDS), header_min[i], 1)))
    keep_atoms = [s if kind != ATOM else n for s, n, kind in zip(soft, natural, kinds)]
    return _fill(natural, keep_atoms, room) or _fill(natural, [s if k != ATOM else w for s, w, k in zip(soft, word_min, kinds)], room)


def folded_widths(headers: Sequence[str], cells: Sequence[Sequence[str]], kinds: Sequence[str], room: int) -> list[int]:
    """Widths for a table that cannot fit at word boundaries: paths fold first (their lines
    still join back into the path), then numbers and statuses, overrides and words last."""
    natural = [max(1, *(len(line) for t in [h, *(row[i] for row in cells)] for line in t.split("\n")))
               for i, h in enumerate(headers)]
    floors = [_longest_piece([h, *(row[i] for row in cells)], WORDS) for i, h in enumerate(headers)]
    for give in (PATH, ATOM, WORDS):
        floors = [min(n, 6) if kind == give else f for n, f, kind in zip(natural, floors, kinds)]
        widths = _fill(natural, [min(f, n) for f, n in zip(floors, natural)], room)
        if widths:
            return widths
    return _fill(natural, [1] * len(natural), room) or [1] * len(natural)


def _fill(natural: list[int], floor: list[int], room: int) -> list[int] | None:
    """Cap every column at one level C (never below its floor), with C as high as fits `room`."""
    for cap in range(max(natural), -1, -1):
        widths = [min(n, max(f, cap)) for n, f in zip(natural, floor)]
        if sum(widths) <= room:
            spare = room - sum(widths)
            for i, n in enumerate(natural):  # the rounding leftover goes to columns still narrowed
                if spare and widths[i] < n:
                    widths[i] += 1
                    spare -= 1
            return widths
    return None


def print_fitted_table(title: str, headers: Sequence[str], cells: Sequence[Sequence[str]], kinds: Sequence[str] | None = None,
                       width: int | None = None, droppable: Sequence[int] = ()) -> None:
    """`cells` (already text) as a rich table that fits `width` (default: output_width()).

    Wrapping is done here, not by rich, so that it happens where `kinds` allows and never cuts.
    When the columns cannot fit without breaking words, the columns of `droppable` (indexes, the
    least useful first) are left out one by one, and a line under the table names them; only
    then are cells folded inside words.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    kinds = list(kinds or [WORDS] * len(headers))
    width = output_width() if width is None else width
    shown = list(range(len(headers)))
    dropped: list[int] = []
    queue = [i for i in droppable if i < len(headers)]
    while True:
        borders = 3 * len(shown) + 1  # "│ " before each cell, " " after it, and the last "│"
        room = None if width is None else max(width - borders, len(shown))
        sub_headers = [headers[i] for i in shown]
        sub_cells = [[row[i] for i in shown] for row in cells]
        sub_kinds = [kinds[i] for i in shown]
        widths = column_widths(sub_headers, sub_cells, sub_kinds, room)
        if widths is not None or not queue:
            break
        drop = queue.pop(0)
        shown.remove(drop)
        dropped.append(drop)
    if widths is None:
        widths = folded_widths(sub_headers, sub_cells, sub_kinds, room)
    table = Table()
    for header, w in zip(sub_headers, widths):
        # Text, not str: "[...]" in an override is a value, not rich markup.
        table.add_column(Text("\n".join(wrap_cell(header, w, WORDS))), width=w, no_wrap=True, overflow="fold")
    for row in sub_cells:
        table.add_row(*(Text("\n".join(wrap_cell(text, w, kind))) for text, w, kind in zip(row, widths, sub_kinds)))
    console = Console(width=sum(widths) + borders, soft_wrap=False)
    console.print(title, highlight=False, soft_wrap=True, markup=False)
    console.print(table)
    if dropped:
        names = ", ".join(headers[i] for i in sorted(dropped))
        console.print(f"Not shown at {width} columns: {names} (a wider terminal, COLUMNS=N or --columns shows them).",
                      highlight=False, soft_wrap=True, markup=False)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table of values (numbers shortened by format_value) that fits the output's width."""
    cells = [[format_value(v) for v in row] for row in rows]
    print_fitted_table(title, list(columns), cells)


def print_metrics(title: str, metrics: Mapping[str, Any]) -> None:
    names = sorted(k for k, v in metrics.items() if "/" in k and isinstance(v, (int, float)))
    print_table(title, ["metric", "value"], [(name, metrics[name]) for name in names])
