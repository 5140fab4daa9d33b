"""What expkit prints: the console log format (one timestamp format throughout) and narrow
filters for third-party noise that a user can do nothing about.

Filters match one message each, never a whole category or module: a new warning still shows.
"""

from __future__ import annotations

import logging
import sys
import warnings

from expkit.run.folder import TIME_FORMAT

# Lightning's adverts for its cloud products, printed on every run.
ADVERTS = ("💡 Tip: For seamless cloud",
           # Said because expkit gives its own one-line summary (expkit.run.console.ParameterSummary).
           "Trainer already configured with model summary callbacks")
# Deprecation warnings raised inside Lightning/joblib about their own internals.
WARNINGS = (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*", r".*LeafSpec.*")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERTS)


# Lightning's hint, on a machine with Slurm installed, to start the run with `srun`: said twice
# per run (trainer and strategy set-up), and meaningless outside a Slurm job.
SRUN_HINT = r"The `srun` command is available on your system but is not used"


class BarAwareHandler(logging.StreamHandler):
    """A console handler whose lines go above the progress bar, never onto the bar's own line:
    tqdm.write clears the bars on the stream, writes the line and draws them again."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: a handler never raises
            self.handleError(record)


def quiet_third_party() -> None:
    """Install the filters (idempotent; also called in sweep worker processes)."""
    import os

    for message in WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    # Under Slurm the hint may matter: once per process; elsewhere never.
    warnings.filterwarnings("once" if os.environ.get("SLURM_JOB_ID") else "ignore", message=SRUN_HINT)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())


def console_logging() -> None:
    """Log lines on stdout like Hydra's job logging, for runs that do not go through hydra.main."""
    from expkit.run.folder import process_rank

    root = logging.getLogger()
    if not any(type(h) in (logging.StreamHandler, BarAwareHandler) for h in root.handlers):
        handler = BarAwareHandler(sys.stdout)
        # The other processes of a DDP run log to the same terminal: their lines say whose they are.
        rank = process_rank()
        prefix = f"[rank {rank}]" if rank else ""
        handler.setFormatter(logging.Formatter(f"[%(asctime)s]{prefix}[%(levelname)s] %(message)s", TIME_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
