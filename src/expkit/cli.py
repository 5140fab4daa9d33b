"""The `expkit` command: a thin dispatcher to the subcommands in `expkit.commands`.

Kept free of heavy imports so that `expkit --help` answers at once; torch and Lightning are
imported by the subcommand that needs them.
"""

from __future__ import annotations

import importlib
import sys

from expkit.commands import COMMANDS

# What a SIGTERM before the fit starts leaves, per training command (a new run's half-made
# folder is removed; a resumed run's records are not touched before its fit).
TERMINATED_BEFORE_FIT = {
    "train": " before training started; nothing was kept",
    "reproduce": " before training started; nothing was kept",
    "resume": " before training started; the run was not changed",
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
        from expkit.version import __version__

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
    own_sigterm = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if own_sigterm:
        signal.signal(signal.SIGTERM, raise_terminated)
    command = importlib.import_module(f"expkit.commands.{name}")
    try:
        return command.main(rest) or 0
    except ExpkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Terminated as err:
        # Raised before a fit starts (Lightning handles SIGTERM from there on): a new run's
        # half-made folder is removed, and a resumed run's records were not yet touched. A sweep's
        # process raises its own, whose message lists what the sweep's jobs kept.
        said = str(err)
        print(f"interrupted by SIGTERM{': ' + said if said else TERMINATED_BEFORE_FIT.get(name, '')}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if own_sigterm:  # an in-process caller (tests, notebooks) gets its process's default back
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
