"""Where expkit's packaged files live: `conf/` (building blocks), `experiments/` (named presets) and
the data files shipped inside the package (`data/dbpedia_sample/`, `data/digits/`); and where a
composed config's key came from (`config_source`, `source_of_key`), for error messages.

In a source checkout they sit at the repository root (the layout the user fixed); a built wheel
carries copies inside the package (see `[tool.hatch.build.targets.wheel.force-include]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _hydra_runtime() -> Any:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except (ValueError, ImportError):
        return None


def config_source(key: str) -> str:
    """Where the user can find group `key`: its YAML file, when Hydra composed the config."""
    hydra_cfg = _hydra_runtime()
    choice = hydra_cfg.runtime.choices.get(key) if hydra_cfg is not None else None
    return f"conf/{key}/{choice}.yaml" if choice else f"config key `{key}`"


def source_of_key(full_key: str) -> str:
    """Where the value of `full_key` (e.g. `data.batch_size`) came from: the command line, the
    experiment file that set it, or the group's own YAML file (later sources win in Hydra)."""
    from omegaconf import OmegaConf

    hydra_cfg = _hydra_runtime()
    if hydra_cfg is None:
        return f"config key `{full_key}`"
    choices = hydra_cfg.runtime.choices
    # Unresolved: an override's text may hold `${...}`, which is the user's expression, not a value.
    for override in reversed(OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)):
        key = override.lstrip("+~").split("=", 1)[0]
        if key != full_key and key in choices:
            continue  # `model=lstm` chose a file; the keys inside came from that file or an experiment
        if key == full_key or full_key.startswith(key + "."):
            # A newline or tab typed into a value is shown escaped: the error stays one line.
            shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in override)
            return f"command line `{shown}`"
    experiment = hydra_cfg.runtime.choices.get("experiment")
    if experiment:
        path = experiments_dir() / f"{experiment}.yaml"
        if _yaml_sets(path, full_key):
            return f"experiments/{experiment}.yaml (key `{full_key}`)"
    group = full_key.split(".", 1)[0]
    source = config_source(group)
    return f"{source} (key `{full_key}`)" if source.endswith(".yaml") else f"config key `{full_key}`"


def _yaml_sets(path: Any, full_key: str) -> bool:
    import yaml

    try:
        node = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    for part in full_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
