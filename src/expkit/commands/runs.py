"""expkit runs [PATH]: a table of the run folders under PATH (default: outputs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from expkit.commands import parse_command_line
from expkit.runs.collect import STATUSES
from expkit.runs.sorting import SORT_KEYS

FORMATS = ("table", "csv", "json", "md")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit runs",
        description="List the run folders under PATH (searched recursively; single runs and sweep jobs) with "
        "the parameters that vary within each experiment (a chosen config group by its option name, model=mlp), "
        "their status, the monitored metric's best value (its header says the metric and whether lower or higher "
        "is better), epochs done, wall time and start time; best run of each experiment first and marked *. A run "
        "still marked running whose process is gone from this machine shows as interrupted. The table prints one "
        "line per run and fits the terminal (COLUMNS if set; no limit when the output is piped): long values end "
        "in an ellipsis, and columns that still do not fit are named under it (--wide shows everything). Run "
        "folders are shown whole, relative to PATH; csv, json and md show them relative to the current directory.",
    )
    p.add_argument("path", nargs="?", default="outputs", help="folder to search (default: outputs)")
    p.add_argument(
        "--sort", default="metric", choices=SORT_KEYS, metavar="KEY",
        help="order: metric (the default: experiment by experiment, the newest first, each best first by its "
        "monitored metric's min/max mode; runs without a value last, newest first), started (newest first), "
        "wall_time, epochs (largest first), status, experiment",
    )
    p.add_argument("--wide", action="store_true",
                   help="show every column in full, whatever the terminal's width (a line may be wider than it)")
    p.add_argument("--reverse", action="store_true", help="reverse the order")
    p.add_argument("--experiment", action="append", default=[], metavar="NAME",
                   help="only runs of this experiment (a glob such as 'dbpedia*' works; repeatable)")
    p.add_argument("--status", action="append", default=[], choices=STATUSES, metavar="S",
                   help=f"only runs with this status: {', '.join(STATUSES)} (repeatable)")
    p.add_argument("--columns", type=names, action="extend", default=[], metavar="A,B,...",
                   help="columns to show instead of the default ones, comma-separated: a config key (optimizer.lr, "
                   "from the run's .hydra/resolved.yaml), a metric (test/acc), params (every config key that "
                   "differs among the listed runs, per-run paths left out), default (the default columns), or "
                   "experiment, overrides, status, metric, best, epochs, wall_time, started, source (where a "
                   "reproduced or resumed run came from), run_dir. The run folder is always shown last.")
    p.add_argument("--group-by", type=names, action="extend", default=[], metavar="KEY,...",
                   help="one row per group of runs with the same values of these config keys (or params: every "
                   "key that differs, except seed), with the count, mean, std, min and max of the monitored "
                   "metric's best value and of the metrics named in --columns")
    p.add_argument("--format", default="table", choices=FORMATS,
                   help="table (default), csv, json (a list of objects) or md (a Markdown table)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="show at most N runs (after sorting)")
    return p


def main(argv: list[str]) -> int:
    args = parse_command_line(parser(), argv)
    from expkit.errors import ExpkitError
    from expkit.run.folder import RunFolder
    from expkit.runs import columns, grouping
    from expkit.runs.collect import read_runs
    from expkit.runs.sorting import filter_rows, sort_rows

    root = Path(args.path)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ExpkitError(
            f"{args.path} {what}. Runs are written under outputs/ of the directory `expkit train` ran in "
            "(or under paths.output_root if you set it); run `expkit runs` there or pass that folder: "
            "expkit runs PATH."
        )
    rows = filter_rows(read_runs(root), experiments=args.experiment, statuses=args.status)
    rows = sort_rows(rows, key=args.sort, reverse=args.reverse)[: args.limit]
    if not rows:
        filters = " ".join([*(f"--experiment {e}" for e in args.experiment), *(f"--status {s}" for s in args.status)])
        print(f"No runs under {args.path}" + (f" matching {filters}" if filters else ""), file=sys.stderr)
        return 0
    # The table names PATH in its title, so its run folders are shorter relative to it; the other
    # formats are read by programs and people in this directory, so theirs open from here.
    base = None if args.format != "table" or RunFolder.is_run_dir(root) else columns.common_folder(rows, root)
    notes: list[str] = []
    if args.columns:
        chosen = columns.resolve_columns(args.columns, rows)
    elif args.format == "table":
        chosen, notes = columns.screen_columns(rows, base)
    else:  # programs get the same fields whatever the runs
        chosen = list(columns.COLUMNS)
    chosen = [c for c in chosen if c.key != "run_dir"] + [columns.run_dir_column(base)]
    if args.group_by:
        keys = grouping.group_keys(args.group_by, rows)
        groups = grouping.sort_groups(grouping.group_rows(rows, keys))
        metrics = grouping.aggregated_metrics(chosen if args.columns else [])
        grouped = grouping.group_columns(keys, metrics, compact=args.format == "table")
        title = f"Runs under {args.path}: {len(rows)} runs in {len(groups)} group{'s' if len(groups) != 1 else ''}, " + (
            f"by {', '.join(keys)}" if keys else "that differ only in seed")
        return _show(args.format, title, groups, grouped, fit_by_dropping=True, wide=args.wide)
    experiments = sorted({row.experiment for row in rows})
    inside = "it" if base is None or base == root else columns.display_path(base)
    title = f"Runs under {args.path} ({len(rows)}" + (f", experiment {experiments[0]})" if len(experiments) == 1 else ")") + (
        f"; run folders relative to {inside}" if base else "")
    return _show(args.format, title, rows, chosen, fit_by_dropping=not args.columns, wide=args.wide, notes=notes)


def _show(fmt: str, title: str, rows: list, columns: list, fit_by_dropping: bool, wide: bool = False,
          notes: list[str] | None = None) -> int:
    from expkit.runs import table

    if fmt == "table":
        table.print_rich_table(title, rows, columns, fit_by_dropping=fit_by_dropping, wide=wide, notes=notes or [])
    else:
        render = {"csv": table.render_csv, "json": table.render_json, "md": table.render_markdown}[fmt]
        sys.stdout.write(render(rows, columns))
    return 0
