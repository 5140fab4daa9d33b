"""Unique, readable run-folder names: `YYYY-MM-DD_HH-MM-SS`, then `-1`, `-2`, ... on a clash."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

# A run folder's name under <paths.output_root>/<name>/: when it started (`-N` appended when taken).
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"

# One name per parent folder and process: Hydra may resolve `hydra.run.dir` more than once.
_claimed: dict[str, str] = {}


def claim_stamp(parent: str | Path) -> str:
    """Create a new timestamped folder under `parent` and return its name.

    `mkdir` either creates the folder or fails, so two processes starting in the same second
    cannot both claim the same name.
    """
    key = str(Path(parent).absolute())
    if key in _claimed:
        return _claimed[key]
    # A parallel launcher's worker processes resolve the sweep folder again: they inherit the
    # name the launching process claimed through the environment.
    env_key = "EXPKIT_STAMP_" + hashlib.sha1(key.encode()).hexdigest()[:16]
    if env_key in os.environ:
        _claimed[key] = os.environ[env_key]
        return _claimed[key]
    name = new_stamp_dir(Path(parent)).name
    _claimed[key] = name
    os.environ[env_key] = name
    return name


def new_stamp_dir(parent: Path) -> Path:
    """Create and return `parent/<timestamp>` (or `<timestamp>-N` when that name is taken)."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime(STAMP_FORMAT)
    n = 0
    while True:
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def run_name(experiment: str | None, data: str | None) -> str:
    """A run's `name`: its experiment, or the data option when no experiment preset applies."""
    return str(experiment or data or "run")


def register_resolvers() -> None:
    """Make `${expkit_stamp:PARENT}`, `${expkit_name:EXPERIMENT,DATA}`, `${expkit_data:FILE}` (a packaged data file)
    and `${expkit_job_folder:NAME}` (a sweep job's folder name made safe) and `${expkit_run:name|group}` (the run
    folder's name and group, for trackers) available."""
    from expkit.config_files import packaged_data_path

    if not OmegaConf.has_resolver("expkit_stamp"):
        OmegaConf.register_new_resolver("expkit_stamp", claim_stamp)
    if not OmegaConf.has_resolver("expkit_name"):
        OmegaConf.register_new_resolver("expkit_name", run_name)
    if not OmegaConf.has_resolver("expkit_run"):
        from expkit.trackers import run_label

        OmegaConf.register_new_resolver("expkit_run", run_label)
    if not OmegaConf.has_resolver("expkit_data"):
        OmegaConf.register_new_resolver("expkit_data", packaged_data_path)
    if not OmegaConf.has_resolver("expkit_job_folder"):
        from expkit.run.job_folder import job_folder_name

        OmegaConf.register_new_resolver("expkit_job_folder", job_folder_name)
