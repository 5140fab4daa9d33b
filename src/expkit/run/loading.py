"""Open a finished (or interrupted) run folder: its config, data module and trained task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from expkit.errors import ExpkitError
from expkit.run.files import read_json
from expkit.run.record import METRICS_FILE

RESOLVED_CONFIG = ".hydra/resolved.yaml"


def require_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / RESOLVED_CONFIG).is_file():
        raise ExpkitError(
            f"{run_dir} is not an expkit run folder (no {RESOLVED_CONFIG}). Pass a folder such as "
            "outputs/<experiment>/<timestamp>/ (`expkit runs` lists them)."
        )
    return run_dir


def run_config(run_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The run's fully resolved config, with `key=value` overrides applied."""
    cfg = OmegaConf.load(run_dir / RESOLVED_CONFIG)
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ExpkitError(f"Overrides must look like key=value; got {bad}.")
    if overrides:
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        except Exception as err:  # omegaconf raises several error types for bad dotlists
            raise ExpkitError(f"Cannot apply overrides {list(overrides)}: {err}") from None
    return cfg


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """`best` (from metrics.json), `last`, or a path to a checkpoint file."""
    if which not in ("best", "last"):
        path = Path(which)
        if not path.is_file():
            raise ExpkitError(f"Checkpoint {path} does not exist.")
        return path
    if which == "best" and (run_dir / METRICS_FILE).is_file():
        best = read_json(run_dir / METRICS_FILE).get("best_checkpoint")
        if best and (run_dir / best).is_file():
            return run_dir / best
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ExpkitError(
            f"{run_dir} has no checkpoint (checkpoints/last.ckpt is missing): the run wrote none "
            "(trainer=debug or enable_checkpointing=false) or stopped before its first epoch ended."
        )
    return last


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """torch.load with weights_only=True: a checkpoint can hold tensors and plain containers only."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise ExpkitError(
            f"Cannot load checkpoint {path}: {str(err).splitlines()[0]}. It is damaged or was not written by "
            "expkit (only tensors and plain containers are accepted)."
        ) from None


@dataclass
class LoadedRun:
    run_dir: Path
    cfg: DictConfig
    datamodule: Any
    task: Any
    checkpoint: Path


def load_run(
    run_dir: str | Path, overrides: Sequence[str] = (), which: str = "best", map_location: Any = "cpu"
) -> LoadedRun:
    """Rebuild the run's data module and task from its config and load a checkpoint into them."""
    from expkit.components import build_datamodule, build_task

    run_dir = require_run_dir(run_dir)
    cfg = run_config(run_dir, overrides)
    ckpt_file = checkpoint_path(run_dir, which)
    ckpt = load_checkpoint(ckpt_file, map_location)
    datamodule = build_datamodule(cfg)
    state = ckpt.get(type(datamodule).__qualname__)
    if state is not None:
        datamodule.load_state_dict(state)
    elif hasattr(datamodule, "vocab"):
        raise ExpkitError(f"{ckpt_file} holds no vocabulary for {type(datamodule).__name__}; it is not this run's checkpoint.")
    task = build_task(cfg, datamodule)
    try:
        task.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise ExpkitError(f"{ckpt_file} does not fit this run's model: {str(err).splitlines()[0]}") from None
    task.eval()
    return LoadedRun(run_dir, cfg, datamodule, task, ckpt_file)
