"""Where expkit's packaged files live: `conf/` (building blocks), `experiments/` (named presets) and
the data files shipped inside the package (`data/dbpedia_sample/`, `data/digits/`).

In a source checkout they sit at the repository root (the layout the user fixed); a built wheel
carries copies inside the package (see `[tool.hatch.build.targets.wheel.force-include]`).
"""

from __future__ import annotations

from pathlib import Path

from expkit.errors import DataError

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


PACKAGED_DATA = _PACKAGE_DIR / "data"


def packaged_data_path(relative: str) -> str:
    """Absolute path of a file shipped inside the package (e.g. `dbpedia_sample/sample.csv`)."""
    path = PACKAGED_DATA / relative
    if not path.exists():
        raise DataError(f"The packaged data file {relative!r} does not exist in {PACKAGED_DATA}; reinstall expkit.")
    return str(path)
