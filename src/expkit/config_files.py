"""Where expkit's YAML lives: `conf/` (building blocks) and `experiments/` (named presets).

In a source checkout they sit at the repository root (the layout the user fixed); a built wheel
carries copies inside the package (see `[tool.hatch.build.targets.wheel.force-include]`).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    packaged = _PACKAGE_DIR / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parents[1] / name


def conf_dir() -> Path:
    """The folder holding `train.yaml` and the config groups."""
    return _locate("conf")


def experiments_dir() -> Path:
    """The folder whose YAML files are the options of the `experiment` group."""
    return _locate("experiments")
