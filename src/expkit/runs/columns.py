"""The columns of the runs table, and how a value becomes a cell.

Columns are chosen by name (`resolve_columns`): a built-in column (`best`, `run_dir`, ...), a
metric of metrics.json (`test/acc`), a key of the run's resolved config (`optimizer.lr`, read
from `.hydra/resolved.yaml` with yaml.safe_load: nothing is instantiated), or `params`: one
column per config key whose value differs among the listed runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from expkit.errors import ExpkitError

from expkit.runs.collect import STARTED_FORMAT, RunRow, varying_keys
from expkit.runs.sorting import best_runs

# How the monitored metric's direction is shown next to its name.
DIRECTION_MARK = {"min": "↓", "max": "↑"}


def metric_header(monitor: str | None, mode: str | None) -> str:
    """`val/loss ↓`: the monitored metric with the direction that is better."""
    return f"{monitor or 'metric'} {DIRECTION_MARK.get(mode or 'min', '')}".rstrip()


@dataclass(frozen=True)
class Column:
    """One column of the table: its key (csv/json field), header (table/md) and value.

    `get` returns the raw value (numbers stay numbers; json writes it as it is); `text` turns
    it into a cell for csv, md and the rich table. `whole`: the rich table never shortens it
    (a run folder, a time; numbers never are either): on a narrow terminal it is left out, unless
    `always`; other cells may end in an ellipsis.
    """

    key: str
    header: str
    get: Callable[[Any], Any]
    text: Callable[[Any], str] | None = None
    whole: bool = False
    # Shown whatever the width (the best mark, the monitored metric): never left out.
    always: bool = False
    # A number per run that a grouped table can average (metrics, best, epochs, wall time).
    numeric: bool = False

    def cell(self, row: Any) -> str:
        value = self.get(row)
        return self.text(value) if self.text else cell_text(value)


def cell_text(value: Any) -> str:
    """A value as one table cell: numbers shortened, lists and dicts as compact JSON."""
    from expkit.report import format_value

    if isinstance(value, bool):
        return "true" if value else "false"  # as the YAML config and the overrides spell it
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return format_value(value)


def display_path(path: Path, base: Path | None = None) -> str:
    """`path` relative to `base` (default: the current directory) when inside it, else absolute.
    Inside means as the path is written (a run found through a linked folder stays under the
    link), else once both are resolved."""
    base = base or Path.cwd()
    for inside, outer in ((Path(os.path.abspath(path)), Path(os.path.abspath(base))), (path.resolve(), base.resolve())):
        try:
            return str(inside.relative_to(outer)) or "."
        except ValueError:
            continue
    return str(path.resolve())


def common_folder(rows: Sequence[RunRow], root: Path) -> Path:
    """The deepest folder under `root` that holds every row's run folder (a sweep's folder when all
    rows are its jobs), so that the table's run folders are as short as they can be and whole."""
    parents = [os.path.abspath(row.run_dir.parent) for row in rows]
    try:
        common = Path(os.path.commonpath(parents))
        common.relative_to(os.path.abspath(root))
    except ValueError:
        return root
    return root / common.relative_to(os.path.abspath(root))


def format_started(started: datetime | None) -> str | None:
    return started.strftime(STARTED_FORMAT) if started else None


def source_text(source: dict[str, Any] | None) -> str:
    """Lineage as one line: `reproduce of outputs/x/2026-... with trainer.max_epochs=4`."""
    if not source:
        return ""
    run_dir = source.get("run_dir")
    where = display_path(Path(run_dir)) if isinstance(run_dir, str) and run_dir else "?"
    text = f"{source.get('command') or 'copy'} of {where}"
    overrides = source.get("overrides")
    if isinstance(overrides, list) and overrides:
        text += " with " + " ".join(str(o) for o in overrides)
    return text


def metric_column(name: str) -> Column:
    """A column with one metric of metrics.json, e.g. `metric_column("test/loss")`."""
    return Column(name, name, lambda r: r.metrics.get(name), numeric=True)


def config_column(key: str) -> Column:
    """A column with one key of the run's resolved config, e.g. `config_column("optimizer.lr")`."""
    return Column(key, key, lambda r: (r.config or {}).get(key))


def param_column(name: str) -> Column:
    """A column with one parameter (expkit.run.params): a config group's chosen option
    (`model` -> `mlp`), or a config key's value."""
    return Column(name, name, lambda r: r.param(name))


def run_dir_column(base: Path | None = None) -> Column:
    """The run folder, relative to `base` (default: the current directory) when inside it."""
    return Column("run_dir", "run folder", lambda r: display_path(r.run_dir, base), whole=True, always=True)


def _started(row: RunRow) -> str | None:
    return format_started(row.started)


COLUMNS: tuple[Column, ...] = (
    Column("experiment", "experiment", lambda r: r.experiment),
    Column("overrides", "overrides", lambda r: " ".join(r.overrides)),
    Column("status", "status", lambda r: r.status, whole=True),
    Column("monitor", "metric", lambda r: r.monitor),
    Column("best", "best", lambda r: r.best, numeric=True),
    Column("epochs", "epochs", lambda r: r.epochs, numeric=True),
    Column("wall_time_s", "wall time (s)", lambda r: r.wall_time_s, numeric=True),
    Column("started", "started", _started, whole=True),
    run_dir_column(),
)
# Built-in columns that are not shown unless asked for.
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("source", "source", lambda r: r.source, text=source_text),
)
BUILTIN = {c.key: c for c in (*COLUMNS, *EXTRA_COLUMNS)}
# Other names people type for built-in columns: their headers, and the sort keys.
ALIASES = {"metric": "monitor", "wall_time": "wall_time_s", "folder": "run_dir", "run folder": "run_dir"}
# When the terminal is too narrow for every default column, these give way first (in this order).
LEAST_NEEDED = ("wall_time_s", "epochs", "started", "seeds", "experiment", "status")
# The mark of the best runs, and what it means (said under the table).
BEST_MARK = "*"
BEST_NOTE = f"{BEST_MARK} the best run of its experiment by its metric (↓: lower is better, ↑: higher is better)"


def monitor_columns(rows: Sequence[RunRow]) -> list[Column]:
    """One column per monitored metric and direction among `rows`, headed `val/loss ↓`, with the
    best value of the runs that monitor it (the best checkpoint's, else the last)."""
    found = dict.fromkeys((r.monitor, r.monitor_mode or "min") for r in rows if r.monitor)
    return [Column(f"best {monitor}", metric_header(monitor, mode),
                   lambda r, m=monitor, d=mode: r.best if (r.monitor, r.monitor_mode or "min") == (m, d) else None,
                   numeric=True, always=True) for monitor, mode in found]


def screen_columns(rows: Sequence[RunRow], base: Path | None = None, metrics: Sequence[str] = ()) -> tuple[list[Column], list[str]]:
    """The columns a person reads first, and the notes under them: the best mark, the experiment
    (when there are several), the parameters that vary within an experiment, the status, the
    monitored metric with its direction, `metrics`, epochs, wall time, start time, and the run
    folder relative to `base`."""
    marked = best_runs(rows)
    columns = [Column("mark", "", lambda r: BEST_MARK if r.run_dir in marked else "", always=True)]
    if len({r.experiment for r in rows}) > 1:
        columns.append(BUILTIN["experiment"])
    columns += [param_column(key) for key in varying_keys(rows)]
    statuses = {r.status for r in rows}
    # One status for every run is said once, under the table, rather than on every line.
    if len(statuses) > 1 or len(rows) == 1:
        columns.append(Column("status", "status", lambda r: r.status, whole=True, always=True))
    columns += [*monitor_columns(rows), *(metric_column(m) for m in metrics)]
    columns += [BUILTIN["epochs"], BUILTIN["wall_time_s"], BUILTIN["started"], run_dir_column(base)]
    notes = [BEST_NOTE] if marked else []
    if len(statuses) == 1 and len(rows) > 1:
        notes.append(f"Status of all {len(rows)} runs: {rows[0].status}.")
    return columns, notes


def resolve_columns(names: Sequence[str], rows: Sequence[RunRow]) -> list[Column]:
    """Columns for names such as ["params", "best", "test/acc", "optimizer.lr"].

    A name is, in this order: `default` (the default columns), `params` (the config keys that
    vary among `rows`), a built-in column, a metric some row has, or a config key some row has.
    Anything else is an ExpkitError that lists what is available. Duplicates are dropped.
    """
    columns: list[Column] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name == "default":
            columns += COLUMNS
        elif name == "params":
            columns += [param_column(key) for key in varying_keys(rows)]
        elif ALIASES.get(name, name) in BUILTIN:
            columns.append(BUILTIN[ALIASES.get(name, name)])
        elif any(name in row.metrics for row in rows):
            columns.append(metric_column(name))
        elif any(name in (row.config or {}) for row in rows):
            columns.append(config_column(name))
        elif any(name in row.choices for row in rows):
            columns.append(param_column(name))
        else:
            raise ExpkitError(unknown_column_message(name, rows))
    # The first of each key, in order (a built-in column named twice is the same object twice).
    seen: set[str] = set()
    return [c for c in columns if not (c.key in seen or seen.add(c.key))]


def unknown_column_message(name: str, rows: Sequence[RunRow]) -> str:
    metrics = sorted({m for row in rows for m in row.metrics if "/" in m})
    prefix = name.split(".", 1)[0] + "."
    near = sorted({k for row in rows for k in (row.config or {}) if k.startswith(prefix)})
    hint = f" Config keys under {prefix[:-1]}: {', '.join(near[:12])}." if near else ""
    return (
        f"Unknown column {name!r}: it is not a built-in column ({', '.join(BUILTIN)}), `default`, `params`, "
        f"a metric of the listed runs ({', '.join(metrics) or 'none'}), or a key of their .hydra/resolved.yaml."
        f"{hint} Config keys are dotted, such as optimizer.lr."
    )


def row_values(row: Any, columns: Sequence[Column] = COLUMNS) -> list[Any]:
    """The row's raw values (numbers stay numbers, missing values are None)."""
    return [column.get(row) for column in columns]
