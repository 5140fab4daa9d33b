"""What the jobs of a sweep need: launcher-specific fixes and the sweep summary.

Imported by Hydra at start-up (the summary callback), so it must not import torch or Lightning.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, open_dict

log = logging.getLogger("expkit")


def adapt_to_launcher(cfg: DictConfig, launcher_target: str, job_num: int) -> None:
    """Make a job safe under a parallel launcher.

    joblib runs jobs in worker processes: DataLoader worker processes inside them hang or
    oversubscribe the cores (Hydra issue #964), so data loading stays in the job's process. All
    jobs would also land on GPU 0 (Hydra issue #2757), so jobs are spread over the visible GPUs.
    """
    if "joblib" not in launcher_target.lower():
        return
    with open_dict(cfg):
        if cfg.data.get("num_workers", 0):
            log.info("joblib launcher: data.num_workers %s -> 0 (workers inside joblib workers hang)", cfg.data.num_workers)
            cfg.data.num_workers = 0
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 1 and cfg.trainer.get("accelerator") in ("auto", "gpu", "cuda"):
            device = job_num % torch.cuda.device_count()
            cfg.trainer.devices = [device]
            log.info("joblib launcher: job %d on GPU %d", job_num, device)


def is_pruned(error: BaseException) -> bool:
    try:
        import optuna
    except ImportError:
        return False
    return isinstance(error, optuna.TrialPruned)


class SweepSummary(HydraCallback):
    """At the end of a sweep: a table sorted by the monitored metric, as summary.csv and summary.md."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from expkit.run.table import print_rich_table, read_runs, render_csv, render_markdown, sort_rows
        from expkit.run.files import write_text_atomic

        sweep_dir = Path(config.hydra.sweep.dir)
        rows = sort_rows(read_runs(sweep_dir), "metric") if sweep_dir.is_dir() else []
        if not rows:
            return
        write_text_atomic(sweep_dir / "summary.csv", render_csv(rows))
        write_text_atomic(sweep_dir / "summary.md", render_markdown(rows))
        failed = [str(row.run_dir) for row in rows if row.status == "failed"]
        print_rich_table(f"Sweep summary ({sweep_dir}), best first", rows)
        log.info("Sweep summary: %s (%d jobs, %d failed)", sweep_dir / "summary.md", len(rows), len(failed))
        if failed:
            # The sweep's exit status: `expkit train -m` ends with 1 when a job failed.
            print(f"error: {len(failed)} job(s) of the sweep failed: {', '.join(failed)}", file=sys.stderr)
            raise SystemExit(1)
