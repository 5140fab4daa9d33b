"""`hydra/sweeper=expkit_basic`, the sweeper of `expkit train -m`: Hydra's basic sweeper (the same
jobs, in the same order, with the same folders) that continues a sweep in an existing folder.

Run the same command again with `hydra.sweep.dir=<the sweep folder>`: jobs that finished are
skipped without touching their folders, interrupted ones resume from their checkpoint and failed
ones run again (`expkit.commands.train.run_job` decides, from the job folder's metrics.json).
"""

from dataclasses import dataclass
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class ExpkitBasicSweeperConf:
    _target_: str = "hydra_plugins.expkit_sweeper.sweeper.ExpkitBasicSweeper"
    # Hydra's basic sweeper's options, with the same meaning.
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="expkit_basic", node=ExpkitBasicSweeperConf, provider="expkit")
