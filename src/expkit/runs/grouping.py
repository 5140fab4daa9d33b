"""Runs grouped by their values of some keys (`expkit runs --group-by`, the sweep summary over
seeds): one row per setting with the count, mean, std, min and max of each metric."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from expkit.errors import ExpkitError

from expkit.run import params as run_params
from expkit.runs.collect import RunRow, is_number, varying_keys
from expkit.runs.columns import BUILTIN, Column, metric_header

_comparable = run_params.comparable


@dataclass
class Group:
    """Runs with the same values of the grouping keys: typically one setting over several seeds."""

    values: dict[str, Any]
    rows: list[RunRow]

    def stats(self, get: Callable[[RunRow], Any]) -> dict[str, float | None]:
        """count, mean, std (sample, n-1; None for one value), min and max of the finite values."""
        values = [float(v) for v in map(get, self.rows) if is_number(v) and math.isfinite(v)]
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
