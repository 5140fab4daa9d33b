"""expkit diff RUN_A RUN_B [RUN_C ...]: what differs between runs (config, metrics, environment)."""

from __future__ import annotations

import argparse
import sys

from expkit.commands import parse_command_line

FORMATS = ("table", "md", "json")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit diff",
        description="Compare run folders: the config keys whose values differ (from each run's "
        ".hydra/resolved.yaml, as dotted keys; paths.* and other paths inside the run's own folder are left "
        "out; a config group whose chosen option differs shows as the option, model: linear vs mlp), the final metrics side by side, the environment facts that differ (environment.json: python, "
        "platform, package versions, git commit and uncommitted changes, device), and where a reproduced or "
        "resumed run came from.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run folders (`expkit runs` lists them)")
    p.add_argument("--wide", action="store_true",
                   help="show every value in full, whatever the terminal's width (table format)")
    p.add_argument("--format", default="table", choices=FORMATS,
                   help="table (default), md (Markdown) or json ({runs, config, metrics, environment, source}; "
                   "a config key a run lacks is null)")
    return p


def main(argv: list[str]) -> int:
    p = parser()
    args = parse_command_line(p, argv)
    if len(args.runs) < 2:
        p.error("give two or more run folders to compare")
    from expkit.runs import compare

    diff = compare.diff_runs(args.runs)
    if args.format == "json":
        sys.stdout.write(compare.to_json(diff))
    elif args.format == "md":
        sys.stdout.write(compare.to_markdown(diff))
    else:
        compare.print_diff(diff, wide=args.wide)
    return 0
