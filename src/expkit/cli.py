"""The `expkit` command: a thin dispatcher to the subcommands in `expkit.commands`.

Kept free of heavy imports so that `expkit --help` answers at once; torch and Lightning are
imported by the subcommand that needs them.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": "Train (and test) an experiment; Hydra overrides, -m sweeps, --cfg job, --help.",
    "eval": "Test metrics of a run's checkpoint (any CSV with data.test_path=FILE).",
    "predict": "Class names and probabilities of new texts, from a run or an export.",
    "export": "Write a run's model as a Hugging Face Hub model folder (--push to upload).",
    "runs": "List runs under the outputs root: status, best metric, epochs, wall time.",
    "diff": "Compare runs: config keys that differ, final metrics side by side, environment.",
    "reproduce": "Run again from a run's saved config snapshot; compare metrics and environment.",
    "resume": "Continue an unfinished run from its last checkpoint, or extend a finished one.",
}

USAGE = """usage: expkit <command> [args ...]

Configuration-driven PyTorch experiments: Hydra configs -> Lightning runs.

commands:
{commands}

Run `expkit <command> --help` for a command's options. Examples:
  expkit train                                   # the default experiment
  expkit train experiment=regression model=mlp optimizer=adam optimizer.lr=0.01
  expkit train -m optimizer.lr=0.1,1,5           # a sweep, one run folder per job
  eval "$(expkit train -sc install=bash)"         # tab completion of commands and train's overrides
"""


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = "\n".join(f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items())
    return USAGE.format(commands=lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from expkit import __version__

        print(f"expkit {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name in ("-sc", "--shell-completion") or name.startswith("--shell-completion="):
        # The completion script that `expkit train -sc install=bash` prints calls `expkit -sc query=bash`.
        from expkit.commands.train import shell_completion

        return shell_completion(argv)
    if name not in COMMANDS:
        print(f"expkit: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    import signal
    import threading

    from expkit.errors import ExpkitError, Terminated, raise_terminated
    from expkit.logs import quiet_third_party

    quiet_third_party()
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, raise_terminated)
    command = importlib.import_module(f"expkit.commands.{name}")
    try:
        return command.main(rest) or 0
    except ExpkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print("interrupted by SIGTERM before training started; nothing was kept", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
