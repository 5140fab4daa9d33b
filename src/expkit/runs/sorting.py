"""The order and selection of listed runs: `expkit runs --sort`, `--experiment`, `--status`,
and which runs are the best of their experiment."""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Sequence

from expkit.runs.collect import STATUSES, RunRow, natural_key

SORT_KEYS = ("metric", "started", "wall_time", "epochs", "status", "experiment")


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


def _metric_key(row: RunRow) -> tuple:
    value = row.best
    if value is None or math.isnan(value):
        return (1, "", 0.0)
    sign = -1.0 if (row.monitor_mode or "min") == "max" else 1.0
    return (0, row.monitor or "", sign * value)

