"""A table of run folders: find them, read each into a `RunRow`, sort, filter and render.

Used by `expkit runs`; kept free of argparse (and of torch/Lightning imports) so that other
summaries, such as one of a sweep's jobs, can reuse `read_run` and the renderers.

A run folder is a directory holding `metrics.json` or `.hydra/overrides.yaml`; Hydra writes it as
`<output_root>/<name>/<YYYY-MM-DD_HH-MM-SS[-N]>/` (one run) or
`<output_root>/<name>/multirun/<stamp>/<job_num>_<overrides>/` (a sweep job).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

# Same names as expkit.run.record, which is not imported here because it pulls in Lightning.
METRICS_FILE = "metrics.json"
OVERRIDES_FILE = ".hydra/overrides.yaml"
CONFIG_FILE = ".hydra/config.yaml"
LOG_FILE = "train.log"

# Overrides that say nothing about what was trained: where files go (paths.*) and the Optuna
# sweeper's bookkeeping for its pruning callback (+optuna_trial.*; excluded from job folder names).
NOISE_PREFIXES = ("paths.", "optuna_trial.")

# Every status a row can have: those of metrics.json (expkit.run.record.STATUSES), plus "created"
# (Hydra files, no metrics.json yet) and "unknown" (metrics.json unreadable).
STATUSES = ("running", "finished", "failed", "interrupted", "pruned", "created", "unknown")
SORT_KEYS = ("metric", "started", "wall_time", "epochs", "status", "experiment")

STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:-(\d+))?$")
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
STARTED_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class RunRow:
    """What the run table shows of one run folder."""

    run_dir: Path
    experiment: str = ""
    overrides: list[str] = field(default_factory=list)
    status: str = "unknown"
    monitor: str | None = None
    monitor_mode: str | None = None
    best: float | None = None
    epochs: int | None = None
    wall_time_s: float | None = None
    started: datetime | None = None
    # Every numeric value of metrics.json ("val/loss", "test/mae", ...), for wider summaries.
    metrics: dict[str, float] = field(default_factory=dict)
    # Why metrics.json could not be read, or the run's recorded error.
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Finding run folders


def is_run_dir(path: Path) -> bool:
    """True for a folder holding `metrics.json` or `.hydra/overrides.yaml`."""
    return (path / METRICS_FILE).is_file() or (path / OVERRIDES_FILE).is_file()


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run folder at or under `root`, in path order (numbers compared as numbers).

    The search does not enter a run folder's own subfolders (checkpoints/, tensorboard/, ...),
    hidden folders, or symlinked folders.
    """
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found = []
    for current, dirs, _files in os.walk(root):
        here = Path(current)
        if here != root and is_run_dir(here):
            found.append(here)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found, key=natural_key)


def natural_key(path: Path) -> list[Any]:
    """Sort key for paths that orders `2_x` before `10_x`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


# ---------------------------------------------------------------------------------------------
# Reading one run


def read_run(run_dir: str | Path) -> RunRow:
    """Read a run folder into a `RunRow`; never raises for damaged or missing files."""
    run_dir = Path(run_dir)
    row = RunRow(run_dir=run_dir, overrides=read_overrides(run_dir))
    data, error = read_metrics_file(run_dir)
    row.error = error
    if data is None:
        row.status = "unknown" if error else status_without_metrics(run_dir)
        data = {}
    else:
        row.status = effective_status(data)
        row.error = _str_or_none(data.get("error"))
    row.experiment = _str_or_none(data.get("experiment")) or experiment_from_files(run_dir, row.overrides)
    row.monitor = _str_or_none(data.get("monitor"))
    row.monitor_mode = _str_or_none(data.get("monitor_mode"))
    row.metrics = {k: float(v) for k, v in data.items() if _is_number(v) and k not in ("pid",)}
    row.best = best_value(data)
    row.epochs = _int_or_none(data.get("epochs_done"))
    row.wall_time_s = _float_or_none(data.get("wall_time_s"))
    row.started = started_at(run_dir, row.wall_time_s)
    row.overrides = [o for o in row.overrides if not is_noise_override(o)]
    return row


def read_runs(root: str | Path) -> list[RunRow]:
    """`read_run` of every run folder under `root`."""
    return [read_run(path) for path in find_run_dirs(root)]


def read_metrics_file(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(metrics.json as a dict, None), (None, None) when absent, or (None, reason) when damaged."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"unreadable {METRICS_FILE}: {err}"
    if not isinstance(data, dict):
        return None, f"unreadable {METRICS_FILE}: not a JSON object"
    return data, None


def read_overrides(run_dir: Path) -> list[str]:
    """The override strings of `.hydra/overrides.yaml` ([] when absent or unreadable)."""
    data = _read_yaml(run_dir / OVERRIDES_FILE)
    return [str(item) for item in data] if isinstance(data, list) else []


def is_noise_override(override: str) -> bool:
    """True for overrides such as `paths.output_root=...` that say nothing about the model."""
    key = override.lstrip("+~").split("=", 1)[0]
    return key.startswith(NOISE_PREFIXES)


def effective_status(data: dict[str, Any]) -> str:
    """metrics.json's status, except that a "running" run whose process is gone on this host
    (killed with -9, machine rebooted) is "interrupted"."""
    status = _str_or_none(data.get("status")) or "unknown"
    if status == "running" and data.get("host") == socket.gethostname():
        pid = _int_or_none(data.get("pid"))
        if pid is not None and not pid_alive(pid):
            return "interrupted"
    return status


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else (or we cannot tell)
    return True


def status_without_metrics(run_dir: Path) -> str:
    """For a folder with Hydra files only: "failed" if train.log shows an error, else "created"."""
    try:
        log = (run_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "created"
    return "failed" if "Error" in log or "Traceback" in log else "created"


def experiment_from_files(run_dir: Path, overrides: Sequence[str]) -> str:
    """The experiment name when metrics.json lacks it: config `name`, `experiment=`, or the folder."""
    config = _read_yaml(run_dir / CONFIG_FILE)
    if isinstance(config, dict) and isinstance(config.get("name"), str) and "${" not in config["name"]:
        return config["name"]
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "experiment" and value:
            return value
    # <root>/<name>/<stamp>/ or <root>/<name>/multirun/<stamp>/<job>/
    parents = run_dir.resolve().parents
    if len(parents) > 2 and parents[1].name == "multirun":
        return parents[2].name
    return parents[0].name if parents else ""


def best_value(data: dict[str, Any]) -> float | None:
    """metrics.json's `best_score`, else the final value of the monitored metric."""
    best = _float_or_none(data.get("best_score"))
    if best is not None:
        return best
    monitor = data.get("monitor")
    return _float_or_none(data.get(monitor)) if isinstance(monitor, str) else None


def started_at(run_dir: Path, wall_time_s: float | None = None) -> datetime | None:
    """When the run started: the folder's timestamp (the sweep's, for a sweep job), else the
    time metrics.json was last written minus the wall time, else the Hydra files' time."""
    for name in (run_dir.name, run_dir.parent.name):
        stamp = parse_stamp(name)
        if stamp is not None:
            return stamp
    try:
        mtime = (run_dir / METRICS_FILE).stat().st_mtime - (wall_time_s or 0.0)
    except OSError:
        try:
            mtime = (run_dir / OVERRIDES_FILE).stat().st_mtime
        except OSError:
            return None
    return datetime.fromtimestamp(mtime).replace(microsecond=0)


def parse_stamp(name: str) -> datetime | None:
    """`2026-01-31_12-00-00` or `2026-01-31_12-00-00-2` as a datetime; None for other names."""
    match = STAMP_RE.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), STAMP_FORMAT)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Filtering and sorting


def filter_rows(rows: Iterable[RunRow], experiments: Sequence[str] = (), statuses: Sequence[str] = ()) -> list[RunRow]:
    """Rows whose experiment matches one of `experiments` (exact name or glob such as `dbp*`)
    and whose status is one of `statuses`; an empty sequence keeps everything."""
    out = []
    for row in rows:
        if experiments and not any(fnmatchcase(row.experiment, pattern) for pattern in experiments):
            continue
        if statuses and row.status not in statuses:
            continue
        out.append(row)
    return out


def sort_rows(rows: Iterable[RunRow], key: str = "started", reverse: bool = False) -> list[RunRow]:
    """Rows in the order `expkit runs --sort KEY` shows them.

    started: newest first. metric: best first by each run's monitor_mode (min: smallest first,
    max: largest first), grouped by monitored metric name; runs without a value last.
    wall_time, epochs: largest first. status: in the order of STATUSES. experiment: by name,
    then newest first. Ties are broken by folder path. `reverse` flips the whole order.
    """
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r}; choose one of {', '.join(SORT_KEYS)}")
    rows = sorted(rows, key=lambda r: natural_key(r.run_dir))
    # Stable sorts from the least to the most significant key.
    if key == "started":
        rows.sort(key=newest_first)
    elif key == "metric":
        rows.sort(key=_metric_key)
    elif key == "wall_time":
        rows.sort(key=lambda r: (r.wall_time_s is None, -(r.wall_time_s or 0.0)))
    elif key == "epochs":
        rows.sort(key=lambda r: (r.epochs is None, -(r.epochs or 0)))
    elif key == "status":
        rows.sort(key=newest_first)
        rows.sort(key=lambda r: STATUSES.index(r.status) if r.status in STATUSES else len(STATUSES))
    elif key == "experiment":
        rows.sort(key=newest_first)
        rows.sort(key=lambda r: r.experiment)
    if reverse:
        rows.reverse()
    return rows


def newest_first(row: RunRow) -> tuple:
    """Sort key: latest start first, runs without a start time last."""
    return (row.started is None, -(row.started.timestamp() if row.started else 0.0))


def _metric_key(row: RunRow) -> tuple:
    value = row.best
    if value is None or math.isnan(value):
        return (1, "", 0.0)
    sign = -1.0 if (row.monitor_mode or "min") == "max" else 1.0
    return (0, row.monitor or "", sign * value)


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class Column:
    """One column of the table: its key (csv/json field), header (table/md) and value."""

    key: str
    header: str
    get: Callable[[RunRow], Any]


def display_path(path: Path, base: Path | None = None) -> str:
    """`path` relative to `base` (default: the current directory) when inside it, else absolute."""
    base = (base or Path.cwd()).resolve()
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(base)) or "."
    except ValueError:
        return str(absolute)


def format_started(started: datetime | None) -> str | None:
    return started.strftime(STARTED_FORMAT) if started else None


def metric_column(name: str) -> Column:
    """A column with one metric of metrics.json, e.g. `metric_column("test/loss")`."""
    return Column(name, name, lambda r: r.metrics.get(name))


COLUMNS: tuple[Column, ...] = (
    Column("experiment", "experiment", lambda r: r.experiment),
    Column("overrides", "overrides", lambda r: " ".join(r.overrides)),
    Column("status", "status", lambda r: r.status),
    Column("monitor", "metric", lambda r: r.monitor),
    Column("best", "best", lambda r: r.best),
    Column("epochs", "epochs", lambda r: r.epochs),
    Column("wall_time_s", "wall time (s)", lambda r: r.wall_time_s),
    Column("started", "started", lambda r: format_started(r.started)),
    Column("run_dir", "run folder", lambda r: display_path(r.run_dir)),
)


def row_values(row: RunRow, columns: Sequence[Column] = COLUMNS) -> list[Any]:
    """The row's raw values (numbers stay numbers, missing values are None)."""
    return [column.get(row) for column in columns]


def to_records(rows: Iterable[RunRow], columns: Sequence[Column] = COLUMNS) -> list[dict[str, Any]]:
    """Rows as plain dicts keyed by column key; NaN/inf become None so the result is valid JSON."""
    return [{c.key: _json_safe(v) for c, v in zip(columns, row_values(row, columns))} for row in rows]


def render_json(rows: Iterable[RunRow], columns: Sequence[Column] = COLUMNS) -> str:
    """A JSON list of objects, one per row."""
    return json.dumps(to_records(rows, columns), indent=2) + "\n"


def render_csv(rows: Iterable[RunRow], columns: Sequence[Column] = COLUMNS) -> str:
    """CSV with a header line of column keys; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else v for v in row_values(row, columns)])
    return buffer.getvalue()


def render_markdown(rows: Iterable[RunRow], columns: Sequence[Column] = COLUMNS) -> str:
    """A Markdown pipe table; numbers shortened as in the rich table."""
    from expkit.report import format_value

    def cell(value: Any) -> str:
        return format_value(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c.header) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row_values(row, columns)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_rich_table(title: str, rows: Iterable[RunRow], columns: Sequence[Column] = COLUMNS) -> None:
    """The rows as a rich table on stdout, styled like expkit.report.print_table.

    Unlike print_table, long run folders and override lists wrap instead of being cut with an
    ellipsis, and the run folder gets the room it needs first (up to 100 characters).
    """
    from rich.console import Console
    from rich.table import Table

    from expkit.report import format_value

    width = 200
    values = [[format_value(v) for v in row_values(row, columns)] for row in rows]
    widths = [max([len(c.header)] + [len(v[i]) for v in values]) for i, c in enumerate(columns)]
    keys = [c.key for c in columns]
    # Room left for the overrides once every other column has its full width (3 = "│ " + " ").
    spare = width - 1 - sum(3 + w for k, w in zip(keys, widths) if k != "overrides") - 3
    table = Table()
    for column, full in zip(columns, widths):
        if column.key == "overrides":
            table.add_column(column.header, overflow="fold", max_width=max(spare, 20))
        elif column.key == "run_dir":  # wraps only when the table cannot be wide enough
            table.add_column(column.header, overflow="fold", min_width=min(full, 100))
        else:
            table.add_column(column.header, no_wrap=True)
    for cells in values:
        table.add_row(*cells)
    console = Console(width=width)
    console.print(title, highlight=False, soft_wrap=True)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# Small converters


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if _is_number(value) and math.isfinite(value) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _read_yaml(path: Path) -> Any:
    """A YAML file's content, or None when it is absent or unreadable."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None

