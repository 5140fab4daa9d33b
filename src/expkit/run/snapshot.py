"""Run Hydra again from a run's saved config snapshot (for `reproduce` and `resume`).

The snapshot (`.hydra/config.yaml`) is the composed config with its `${...}` interpolations;
composing from it, not from today's `conf/` files, gives the run's own settings even after the
building blocks have changed. It becomes the primary config of a temporary config folder, with
expkit's `hydra` settings (run-folder layout, logging, sweep summary) from `conf/`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf

from expkit.run.loading import RESOLVED_CONFIG, require_run_dir

SNAPSHOT = ".hydra/config.yaml"
# Keys of a sweep job that belong to its sweep, not to the run.
SWEEP_ONLY_KEYS = ("optuna_trial",)


def run_from_snapshot(run_dir: Path, argv: Sequence[str]) -> None:
    """Compose `run_dir`'s snapshot plus `argv` (overrides, Hydra flags) and run `expkit train`'s job."""
    from expkit.commands.train import hydra_entry
    from expkit.config_files import conf_dir

    run_dir = require_run_dir(run_dir)
    snapshot = OmegaConf.load(run_dir / SNAPSHOT)
    resolved = OmegaConf.load(run_dir / RESOLVED_CONFIG)
    for key in SWEEP_ONLY_KEYS:
        snapshot.pop(key, None)
    # `name` came from Hydra's choice of experiment, which a snapshot no longer has.
    snapshot.name = resolved.name
    primary = OmegaConf.create(
        {
            "defaults": [{"hydra": "default"}, "_self_"],
            "hydra": {"searchpath": [f"file://{conf_dir()}"]},
        }
    )
    primary = OmegaConf.merge(primary, snapshot)
    with tempfile.TemporaryDirectory(prefix="expkit-snapshot-") as tmp:
        (Path(tmp) / "snapshot.yaml").write_text(OmegaConf.to_yaml(primary), encoding="utf-8")
        hydra_entry(list(argv), tmp, "snapshot", prog=f"expkit (from {run_dir})")
