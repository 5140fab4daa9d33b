"""A table of run folders: find them, read each into a `RunRow`, sort, filter and render.

Used by `expkit runs`, `expkit diff` and the sweep summary; kept free of argparse (and of
torch/Lightning imports) so that each can reuse `read_run`, the columns and the renderers.

Columns are chosen by name (`resolve_columns`): a built-in column (`best`, `run_dir`, ...), a
metric of metrics.json (`test/acc`), a key of the run's resolved config (`optimizer.lr`, read
from `.hydra/resolved.yaml` with yaml.safe_load: nothing is instantiated), or `params`: one
column per config key whose value differs among the listed runs.

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
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from expkit.errors import ExpkitError

from expkit.run.folder import STATUSES as RECORD_STATUSES
from expkit.run.folder import RunFolder
from expkit.run import params as run_params

# The run folder's file names belong to RunFolder (expkit.run.folder, free of Lightning imports).
METRICS_FILE = RunFolder.METRICS
OVERRIDES_FILE = RunFolder.OVERRIDES
CONFIG_FILE = RunFolder.SNAPSHOT
RESOLVED_FILE = RunFolder.RESOLVED
LOG_FILE = RunFolder.LOG
# Hydra's own config of the run; `hydra.runtime.choices` says which option of each group it chose.
HYDRA_FILE = f"{RunFolder.HYDRA_DIR}/hydra.yaml"
# How the monitored metric's direction is shown next to its name.
DIRECTION_MARK = {"min": "↓", "max": "↑"}

# Overrides that say nothing about what was trained: where files go (paths.*) and the Optuna
# sweeper's bookkeeping for its pruning callback (+optuna_trial.*; excluded from job folder names).
NOISE_PREFIXES = ("paths.", "optuna_trial.")

# Every status a row can have: those of metrics.json (RunFolder's), plus "created" (Hydra files,
# no metrics.json yet) and "unknown" (metrics.json unreadable).
STATUSES = (*RECORD_STATUSES, "created", "unknown")
SORT_KEYS = ("metric", "started", "wall_time", "epochs", "status", "experiment")

STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:-(\d+))?$")
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
# The one format of a time shown to people: tables, diffs, and metrics.json's "started".
STARTED_FORMAT = "%Y-%m-%d %H:%M:%S"

# Config keys that are never parameters: where files go, the sweeper's bookkeeping.
CONFIG_NOISE_PREFIXES = ("paths.", "optuna_trial.", "hydra.")
# Plumbing of the components the config builds: Hydra's instantiation flags everywhere, and
# which class logs or checkpoints. A differing `optimizer._target_` is a parameter (Adam vs SGD).
INSTANTIATION_FLAGS = ("_partial_", "_recursive_", "_convert_")
PLUMBING_GROUPS = ("callbacks.", "logger.")


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
    # Lineage written by `expkit reproduce`/`resume`: {"run_dir", "command", "overrides"}.
    source: dict[str, Any] | None = None

    @cached_property
    def config(self) -> dict[str, Any] | None:
        """The resolved config as flat dotted keys (`optimizer.lr`), None without one.

        Read on first use: listing runs without config columns never parses YAML."""
        data = _read_yaml(self.run_dir / RESOLVED_FILE)
        return flatten_config(data) if isinstance(data, dict) else None

    @cached_property
    def choices(self) -> dict[str, str]:
        """The option chosen for each config group that is a parameter ({"model": "mlp"}), from
        Hydra's `hydra.runtime.choices`; {} without a readable .hydra/hydra.yaml."""
        data = _read_yaml(self.run_dir / HYDRA_FILE)
        choices = ((data or {}).get("hydra") or {}).get("runtime", {}).get("choices") if isinstance(data, dict) else None
        return run_params.param_groups(choices) if isinstance(choices, dict) else {}

    def param(self, name: str) -> Any:
        """This run's value of a parameter: a config group's chosen option, or a config key's value."""
        return run_params.param_value(self.choices, self.config or {}, name)

    @cached_property
    def params(self) -> dict[str, Any]:
        """`config` without per-run paths and plumbing: what could be a parameter."""
        config = self.config or {}
        own = run_paths(self.run_dir, config)
        return {k: v for k, v in config.items() if not is_per_run_key(k, v, own) and not is_plumbing_key(k)}


# ---------------------------------------------------------------------------------------------
# Finding run folders


def is_run_dir(path: Path) -> bool:
    """True for a folder holding `metrics.json` or `.hydra/overrides.yaml`."""
    return (path / METRICS_FILE).is_file() or (path / OVERRIDES_FILE).is_file()


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run folder at or under `root`, in path order (numbers compared as numbers).

    The search follows linked folders (`outputs/regression` may be a link to a scratch disk),
    enters each real folder once (a link back up the tree is not a loop), and does not enter a
    run folder's own subfolders (checkpoints/, .hydra/, ...) or hidden folders.
    """
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found = []
    seen: set[tuple[int, int]] = set()
    for current, dirs, _files in os.walk(root, followlinks=True):
        here = Path(current)
        try:
            stat = here.stat()
        except OSError:
            dirs[:] = []
            continue
        if (stat.st_dev, stat.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
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
    row.started = parse_started(data.get("started")) or started_at(run_dir, row.wall_time_s)
    row.source = data.get("source") if isinstance(data.get("source"), dict) else None
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
    """When a run whose metrics.json has no `started` (older runs) started: the folder's
    timestamp (the sweep's, for a sweep job), else the time metrics.json was last written minus
    the wall time, else the Hydra files' time."""
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


def parse_started(value: Any) -> datetime | None:
    """metrics.json's `started` ("YYYY-MM-DD HH:MM:SS", local time) as a datetime; None if absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), STARTED_FORMAT)
    except ValueError:
        return None


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
# Run configs


def flatten_config(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted keys; lists and empty dicts stay whole values."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten_config(value, name + "."))
        else:
            out[name] = value
    return out


def run_paths(run_dir: Path, config: dict[str, Any]) -> list[str]:
    """The strings that name this run's own folder: where it is now and where it was written
    (`paths.run_dir`, which differs once the folder has been moved)."""
    names = {str(run_dir.resolve())}
    written = config.get("paths.run_dir")
    if isinstance(written, str) and len(written) > 1:
        names.add(written.rstrip("/"))
    return sorted(names)


def is_per_run_key(key: str, value: Any, own_paths: Sequence[str]) -> bool:
    """True for `paths.*`, sweeper bookkeeping, and values inside the run's own folder
    (trainer.default_root_dir, the checkpoint dirpath, the logger's save_dir): they differ
    between any two runs and say nothing about what was trained."""
    if key.startswith(CONFIG_NOISE_PREFIXES):
        return True
    if not isinstance(value, str):
        return False
    if key.startswith("logger.") and value:
        # A tracker's run name and group are the run folder's name and where it lies
        # (`${expkit_run:name}`, `${expkit_run:group}`): they differ between any two runs.
        for path in own_paths:
            if path.endswith("/" + value) or path.rsplit("/", 1)[0].endswith("/" + value):
                return True
    return any(path and path in value for path in own_paths)


def is_plumbing_key(key: str) -> bool:
    """True for Hydra's `_partial_`-style flags and the `_target_` of callbacks and loggers."""
    last = key.rsplit(".", 1)[-1]
    return last in INSTANTIATION_FLAGS or (last == "_target_" and key.startswith(PLUMBING_GROUPS))


def varying_keys(rows: Sequence[RunRow]) -> list[str]:
    """The parameters that differ among runs of the same experiment (expkit.run.params): a
    config group whose chosen option differs by its name (`model`), other config keys whose
    value differs (present in some runs and absent from others counts), in config order; the
    union over the experiments of `rows`. Runs without a resolved config take no part."""
    harmonise_choices(rows)
    return run_params.varying_params((row.experiment, row.choices, row.params) for row in rows if row.config is not None)


def harmonise_choices(rows: Sequence[RunRow]) -> None:
    """Within an experiment where some run has no recorded choices, every run's groups are named
    by the class they build (expkit.run.params.target_choices), so that one option never shows
    under two names (`mlp` and `MLPRegressor`)."""
    by_experiment: dict[str, list[RunRow]] = {}
    for row in rows:
        if row.config is not None:
            by_experiment.setdefault(row.experiment, []).append(row)
    for members in by_experiment.values():
        if not all(row.choices for row in members):
            for row in members:
                row.__dict__["choices"] = run_params.target_choices(row.params)


_comparable = run_params.comparable


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

    started: newest first. metric: experiment by experiment (the one with the newest run first),
    best first by each run's monitor_mode (min: smallest first, max: largest first), runs without
    a value last, newest first.
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
        rows.sort(key=newest_first)
        rows.sort(key=_metric_key)
        newest: dict[str, int] = {}
        for rank, row in enumerate(sorted(rows, key=newest_first)):
            newest.setdefault(row.experiment, rank)
        rows.sort(key=lambda r: newest[r.experiment])
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


def best_runs(rows: Iterable[RunRow]) -> set[Path]:
    """The run folders with the best value of their experiment's monitored metric (in its
    direction); ties are all best."""
    best: dict[tuple[str, str | None], float] = {}
    rows = [r for r in rows if r.best is not None and math.isfinite(r.best)]
    for row in rows:
        sign = -1.0 if (row.monitor_mode or "min") == "max" else 1.0
        key = (row.experiment, row.monitor)
        best[key] = min(best.get(key, math.inf), sign * row.best)
    return {r.run_dir for r in rows
            if (-1.0 if (r.monitor_mode or "min") == "max" else 1.0) * r.best == best[(r.experiment, r.monitor)]}


def metric_header(monitor: str | None, mode: str | None) -> str:
    """`val/loss ↓`: the monitored metric with the direction that is better."""
    return f"{monitor or 'metric'} {DIRECTION_MARK.get(mode or 'min', '')}".rstrip()


def _metric_key(row: RunRow) -> tuple:
    value = row.best
    if value is None or math.isnan(value):
        return (1, "", 0.0)
    sign = -1.0 if (row.monitor_mode or "min") == "max" else 1.0
    return (0, row.monitor or "", sign * value)


# ---------------------------------------------------------------------------------------------
# Columns


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


# ---------------------------------------------------------------------------------------------
# Multi-seed statistics


@dataclass
class Group:
    """Runs with the same values of the grouping keys: typically one setting over several seeds."""

    values: dict[str, Any]
    rows: list[RunRow]

    def stats(self, get: Callable[[RunRow], Any]) -> dict[str, float | None]:
        """count, mean, std (sample, n-1; None for one value), min and max of the finite values."""
        values = [float(v) for v in map(get, self.rows) if _is_number(v) and math.isfinite(v)]
        if not values:
            return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
        return {
            "n": len(values),
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values),
            "max": max(values),
        }


def group_keys(spec: Sequence[str], rows: Sequence[RunRow]) -> list[str]:
    """The parameters to group by: `params` means what varies within each experiment except
    `seed` (expkit.run.params), led by `experiment` when the runs are of several experiments."""
    keys: list[str] = []
    for name in (n.strip() for n in spec):
        if not name:
            continue
        if name == "params":
            if len({row.experiment for row in rows}) > 1:
                keys.append("experiment")
            keys += [k for k in varying_keys(rows) if k != "seed"]
        elif name == "experiment" or any(name in (row.config or {}) or name in row.choices for row in rows):
            keys.append(name)
        else:
            raise ExpkitError(
                f"--group-by {name}: no listed run has this key in its .hydra/resolved.yaml. Group by `params` "
                "(every config key that varies, except seed) or by dotted config keys such as optimizer.lr."
            )
    return list(dict.fromkeys(keys))


def group_rows(rows: Sequence[RunRow], keys: Sequence[str]) -> list[Group]:
    """Rows grouped by their values of `keys`, groups in order of first appearance."""
    groups: dict[tuple, Group] = {}
    for row in rows:
        values = {k: row.experiment if k == "experiment" else row.param(k) for k in keys}
        marker = tuple(_comparable(v) for v in values.values())
        groups.setdefault(marker, Group(values, [])).rows.append(row)
    return list(groups.values())


def sort_groups(groups: Iterable[Group]) -> list[Group]:
    """Experiment by experiment (in order of first appearance), best mean of the monitored metric
    first (each group's min/max mode), groups without one last."""
    groups = list(groups)
    order = {name: i for i, name in enumerate(dict.fromkeys(g.rows[0].experiment for g in groups))}

    def key(group: Group) -> tuple:
        first = group.rows[0]
        mean = group.stats(lambda r: r.best)["mean"]
        if mean is None:
            return (order[first.experiment], 1, "", 0.0)
        sign = -1.0 if (first.monitor_mode or "min") == "max" else 1.0
        return (order[first.experiment], 0, first.monitor or "", sign * mean)

    return sorted(groups, key=key)


def group_columns(keys: Sequence[str], metrics: Sequence[Column], compact: bool = False) -> list[Column]:
    """Columns of a grouped table: the keys, the number of runs and their statuses, the seeds,
    then mean/std/min/max per metric (over the runs that have a value)."""
    def statuses(group: Group) -> str:
        counts: dict[str, int] = {}
        for row in group.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in counts.items())

    def seeds(group: Group) -> str:
        found = [(row.config or {}).get("seed") for row in group.rows]
        return ",".join(str(s) for s in sorted({s for s in found if s is not None}, key=str))

    def monitors(group: Group) -> str:
        named = dict.fromkeys(r.monitor for r in group.rows if r.monitor)
        if not compact:
            return ",".join(named)
        return ",".join(dict.fromkeys(metric_header(r.monitor, r.monitor_mode) for r in group.rows if r.monitor))

    # The experiment, when it is a key, says what the other keys mean: it stays.
    columns = [Column(k, k, (lambda g, k=k: g.values.get(k)), always=k == "experiment") for k in keys]
    columns += [
        Column("runs", "runs", lambda g: len(g.rows), always=True),
        Column("status", "status", statuses),
        Column("seeds", "seeds", seeds),
        Column("monitor", "metric", monitors, always=True),
    ]
    for metric in metrics:
        if compact:  # on screen: two cells per metric, `mean ± std` and `min … max`
            columns.append(Column(f"{metric.key} mean ± std", f"{metric.key} mean ± std",
                                  lambda g, m=metric: _mean_std(g.stats(m.get), len(g.rows)), always=metric.key == "best"))
            columns.append(Column(f"{metric.key} min … max", f"{metric.key} min … max",
                                  lambda g, m=metric: _min_max(g.stats(m.get))))
            continue
        # n: how many of the group's runs have a finite value (a failed or diverged seed has none).
        for stat in ("n", "mean", "std", "min", "max"):
            name = f"{metric.key} {stat}"
            columns.append(Column(name, name, lambda g, m=metric, s=stat: g.stats(m.get)[s], numeric=True))
    return columns


def _mean_std(stats: dict[str, float | None], runs: int) -> str:
    if stats["mean"] is None:
        return ""
    text = f"{stats['mean']:.4g}" + ("" if stats["std"] is None else f" ± {stats['std']:.2g}")
    # Said when some runs have no value: the statistics are not over the group's `runs`.
    return text + (f" ({stats['n']} of {runs})" if stats["n"] < runs else "")


def _min_max(stats: dict[str, float | None]) -> str:
    # One value is not a spread: the runs column says the group is one run.
    return "" if stats["min"] is None or stats["n"] < 2 else f"{stats['min']:.4g} … {stats['max']:.4g}"


def aggregated_metrics(columns: Sequence[Column]) -> list[Column]:
    """The columns a grouped table aggregates: `best` (the monitored metric), then the numeric
    ones of `columns` (metrics, epochs, wall time); other columns have no mean."""
    chosen = [BUILTIN["best"], *(c for c in columns if c.numeric)]
    return list({c.key: c for c in chosen}.values())


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


def json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _read_yaml(path: Path) -> Any:
    """A YAML file's content, or None when it is absent or unreadable."""
    import yaml
    from expkit.files import safe_load_yaml

    try:
        return safe_load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None

