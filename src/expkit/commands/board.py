"""expkit board [PATH ...]: TensorBoard on exactly these runs, each named by what tells it apart."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from expkit.commands import parse_command_line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit board",
        description="Start TensorBoard on the runs at or under each PATH (run folders, sweep folders, an outputs "
        "folder; default: outputs), each under a short name: the parameters that vary among the runs shown "
        "(model=mlp optimizer.lr=0.05), else its folder name. Prints the names and the URL; Ctrl+C stops it.",
    )
    p.add_argument("paths", nargs="*", default=["outputs"], metavar="PATH", help="runs or folders of runs")
    p.add_argument("--port", type=int, default=6006, help="port to serve on (default 6006; 0: any free port)")
    p.add_argument("--host", default="localhost", help="address to serve on (default localhost; 0.0.0.0 for all)")
    return p


def main(argv: list[str]) -> int:
    args = parse_command_line(parser(), argv)
    from expkit.errors import ExpkitError
    from expkit.runs.board import link_runs

    if not 0 <= args.port <= 65535:
        raise ExpkitError(f"--port {args.port} is not a port; give a number from 1 to 65535 (or 0 for any free port).")
    with tempfile.TemporaryDirectory(prefix="expkit-board-") as board_dir:
        runs = link_runs(args.paths, Path(board_dir))
        from tensorboard import program

        board = program.TensorBoard()
        board.configure(argv=[None, "--logdir", board_dir, "--port", str(args.port), "--host", args.host,
                              "--reload_interval", "15", "--load_fast", "false"])
        try:
            url = board.launch()
        except program.TensorBoardServerException as err:
            raise ExpkitError(f"TensorBoard could not start on {args.host}:{args.port}: {err}. Choose another "
                              "port with --port (0 picks a free one).") from None
        width = max(len(name) for name, _ in runs)
        for name, run_dir in runs:
            print(f"  {name.ljust(width)}  {run_dir}")
        print(f"TensorBoard on {len(runs)} run{'s' if len(runs) != 1 else ''}: {url} (Ctrl+C stops it)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("TensorBoard stopped.", file=sys.stderr)
    return 0
