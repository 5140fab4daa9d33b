"""expkit runs [PATH]: a table of the run folders under PATH (default: outputs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from expkit.run.table import SORT_KEYS, STATUSES

FORMATS = ("table", "csv", "json", "md")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit runs",
        description="List the run folders under PATH (searched recursively; single runs and sweep jobs) with "
        "their status, monitored metric and best value, epochs done, wall time and start time. A run still "
        "marked running whose process is gone from this machine shows as interrupted.",
    )
    p.add_argument("path", nargs="?", default="outputs", help="folder to search (default: outputs)")
    p.add_argument(
        "--sort", default="started", choices=SORT_KEYS, metavar="KEY",
        help="order: started (newest first, the default), metric (best first, by each run's min/max mode), "
        "wall_time, epochs (largest first), status, experiment",
    )
    p.add_argument("--reverse", action="store_true", help="reverse the order")
    p.add_argument("--experiment", action="append", default=[], metavar="NAME",
                   help="only runs of this experiment (a glob such as 'dbpedia*' works; repeatable)")
    p.add_argument("--status", action="append", default=[], choices=STATUSES, metavar="S",
                   help=f"only runs with this status: {', '.join(STATUSES)} (repeatable)")
    p.add_argument("--format", default="table", choices=FORMATS,
                   help="table (default), csv, json (a list of objects) or md (a Markdown table)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="show at most N runs (after sorting)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from expkit.errors import ExpkitError
    from expkit.run import table

    root = Path(args.path)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ExpkitError(
            f"{args.path} {what}. Runs are written under outputs/ of the directory `expkit train` ran in "
            "(or under paths.output_root if you set it); run `expkit runs` there or pass that folder: "
            "expkit runs PATH."
        )
    rows = table.filter_rows(table.read_runs(root), experiments=args.experiment, statuses=args.status)
    rows = table.sort_rows(rows, key=args.sort, reverse=args.reverse)[: args.limit]
    if not rows:
        filters = " ".join([*(f"--experiment {e}" for e in args.experiment), *(f"--status {s}" for s in args.status)])
        print(f"No runs under {args.path}" + (f" matching {filters}" if filters else ""), file=sys.stderr)
        return 0
    if args.format == "table":
        table.print_rich_table(f"Runs under {args.path} ({len(rows)})", rows)
    else:
        render = {"csv": table.render_csv, "json": table.render_json, "md": table.render_markdown}[args.format]
        sys.stdout.write(render(rows))
    return 0
