"""Finding run folders and reading each into a `RunRow`: what `expkit runs`, `expkit diff`,
`expkit board` and the sweep summary list. Every file is read through `RunFolder`
(expkit.run.folder); a damaged or missing file never stops a listing.

A run folder is a directory holding `metrics.json` or `.hydra/overrides.yaml`; Hydra writes it as
`<output_root>/<name>/<YYYY-MM-DD_HH-MM-SS[-N]>/` (one run) or
`<output_root>/<name>/multirun/<stamp>/<job_num>_<overrides>/` (a sweep job).
"""

from __future__ import annotations

import math
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from expkit.errors import ExpkitError
from expkit.files import pid_alive
from expkit.run.folder import STATUSES as RECORD_STATUSES
from expkit.run.folder import TIME_FORMAT, RunFolder
from expkit.run.stamp import STAMP_FORMAT
from expkit.run import params as run_params
from expkit.runs.config_keys import flatten_config, is_per_run_key, is_plumbing_key, run_paths

# The run folder's file names belong to RunFolder (expkit.run.folder, free of Lightning imports).
METRICS_FILE = RunFolder.METRICS
OVERRIDES_FILE = RunFolder.OVERRIDES
CONFIG_FILE = RunFolder.SNAPSHOT
RESOLVED_FILE = RunFolder.RESOLVED
LOG_FILE = RunFolder.LOG
# Hydra's own config of the run; `hydra.runtime.choices` says which option of each group it chose.
HYDRA_FILE = f"{RunFolder.HYDRA_DIR}/hydra.yaml"

# Overrides that say nothing about what was trained: where files go (paths.*) and the Optuna
# sweeper's bookkeeping for its pruning callback (+optuna_trial.*; excluded from job folder names).
NOISE_PREFIXES = ("paths.", "optuna_trial.")

# Every status a row can have: those of metrics.json (RunFolder's), plus "created" (Hydra files,
# no metrics.json yet) and "unknown" (metrics.json unreadable).
STATUSES = (*RECORD_STATUSES, "created", "unknown")

STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:-(\d+))?$")
# The one format of a time shown to people (tables, diffs) is the one metrics.json's "started" is written in.
STARTED_FORMAT = TIME_FORMAT


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


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run folder at or under `root`, in path order (numbers compared as numbers).

    The search follows linked folders (`outputs/regression` may be a link to a scratch disk),
    enters each real folder once (a link back up the tree is not a loop), and does not enter a
    run folder's own subfolders (checkpoints/, .hydra/, ...) or hidden folders.
    """
    root = Path(root)
    if RunFolder.is_run_dir(root):
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
        if here != root and RunFolder.is_run_dir(here):
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
    try:
        overrides = RunFolder(run_dir).read_overrides()
    except ExpkitError:  # damaged: the run is listed without its overrides
        overrides = []
    row = RunRow(run_dir=run_dir, overrides=overrides)
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
    row.metrics = {k: float(v) for k, v in data.items() if is_number(v) and k not in ("pid",)}
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
    folder = RunFolder(run_dir)
    if not (folder / METRICS_FILE).is_file():
        return None, None
    try:
        return folder.read_metrics(), None
    except (OSError, ValueError, ExpkitError) as err:  # ExpkitError: damaged, or not a JSON object
        return None, f"unreadable {METRICS_FILE}: {err}"


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
# What differs among runs


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


# ---------------------------------------------------------------------------------------------
# Small converters


def is_number(value: Any) -> bool:
    """A number of metrics.json: an int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float_or_none(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if is_number(value) and math.isfinite(value) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_yaml(path: Path) -> Any:
    """A YAML file's content, or None when it is absent or unreadable."""
    import yaml
    from expkit.files import safe_load_yaml

    try:
        return safe_load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None

