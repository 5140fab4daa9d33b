"""Which keys of a run's resolved config could be parameters: the config flattened to dotted
keys (`optimizer.lr`), without the keys that differ between any two runs (paths, the sweeper's
bookkeeping, values inside the run's own folder) and the plumbing of the components it builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

# Config keys that are never parameters: where files go, the sweeper's bookkeeping.
CONFIG_NOISE_PREFIXES = ("paths.", "optuna_trial.", "hydra.")
# Plumbing of the components the config builds: Hydra's instantiation flags everywhere, and
# which class logs or checkpoints. A differing `optimizer._target_` is a parameter (Adam vs SGD).
INSTANTIATION_FLAGS = ("_partial_", "_recursive_", "_convert_")
PLUMBING_GROUPS = ("callbacks.", "logger.")


def flatten_config(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted keys; lists and empty dicts stay whole values."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten_config(value, name + "."))
        else:
            out[name] = value
    return out


def run_paths(run_dir: Path, config: dict[str, Any]) -> list[str]:
    """The strings that name this run's own folder: where it is now and where it was written
    (`paths.run_dir`, which differs once the folder has been moved)."""
    names = {str(run_dir.resolve())}
    written = config.get("paths.run_dir")
    if isinstance(written, str) and len(written) > 1:
        names.add(written.rstrip("/"))
    return sorted(names)


def is_per_run_key(key: str, value: Any, own_paths: Sequence[str]) -> bool:
    """True for `paths.*`, sweeper bookkeeping, and values inside the run's own folder
    (trainer.default_root_dir, the checkpoint dirpath, the logger's save_dir): they differ
    between any two runs and say nothing about what was trained."""
    if key.startswith(CONFIG_NOISE_PREFIXES):
        return True
    if not isinstance(value, str):
        return False
    if key.startswith("logger.") and value:
        # A tracker's run name and group are the run folder's name and where it lies
        # (`${expkit_run:name}`, `${expkit_run:group}`): they differ between any two runs.
        for path in own_paths:
            if path.endswith("/" + value) or path.rsplit("/", 1)[0].endswith("/" + value):
                return True
    return any(path and path in value for path in own_paths)


def is_plumbing_key(key: str) -> bool:
    """True for Hydra's `_partial_`-style flags and the `_target_` of callbacks and loggers."""
    last = key.rsplit(".", 1)[-1]
    return last in INSTANTIATION_FLAGS or (last == "_target_" and key.startswith(PLUMBING_GROUPS))
