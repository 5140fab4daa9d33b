"""The end-of-run summary every logger gets (what it holds: `expkit.trackers`), handed out once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger("expkit")


@dataclass
class RunSummary:
    """The curation every tracker gets at the end of a run."""

    params: dict[str, Any]
    final: dict[str, float]
    best: dict[str, float] = field(default_factory=dict)  # `val/*` of the best epoch
    best_step: int = 0
    varying: list[str] = field(default_factory=list)  # the keys the run's sweep varies
    name: str = ""  # TensorBoard's session name
    monitor: str | None = None  # the monitored metric (its best value leads HPARAMS' metric columns)
    others: list[str] = field(default_factory=list)  # other runs' metric names (HPARAMS' columns)
    config_file: Path | None = None


def publish(loggers: Sequence[Any], summary: RunSummary) -> None:
    """Hand the run's curation to every logger (TensorBoard: HPARAMS; the others: params, best
    metrics and the config file). A tracker that fails is reported, not fatal: the run is done."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from expkit.run.hparams import BEST_PREFIX
    from expkit.run.tensorboard import write_run_summary
    from expkit.trackers import save_file

    for logger in loggers:
        try:
            if isinstance(logger, TensorBoardLogger):
                write_run_summary(logger.experiment, summary.params, summary.final, summary.best, summary.best_step,
                                  summary.varying, summary.name, summary.monitor, summary.others)
                continue
            logger.log_hyperparams(dict(summary.params))
            if summary.best:
                logger.log_metrics({BEST_PREFIX + k: v for k, v in sorted(summary.best.items())}, step=summary.best_step)
            if summary.config_file is not None:
                save_file(logger, summary.config_file)
            logger.save()
        except Exception as err:  # noqa: BLE001 - a tracker's server or disk; the run's own records are written
            log.warning("%s could not record the run's summary: %s", type(logger).__name__, err)
