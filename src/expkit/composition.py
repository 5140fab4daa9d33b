"""Compose: the config `expkit train OVERRIDES` would run, from Hydra's compose API (the first
stage of every command: compose -> validate -> fit). Nothing here writes a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from expkit.errors import ConfigError
from expkit.runs.loading import override_list


# Choosing one of these groups without `experiment=` means another workload: the default
# experiment preset (which sets data, model, task and their keys together) is then dropped, so
# none of its keys (say, the DBpedia sample's `data.ngrams`) leak into the chosen data or task.
# Choosing only `model=` keeps the default experiment: same workload, another network.
WORKLOAD_GROUPS = ("data", "task")


# Groups the primary config lists as `optional`: Hydra skips a misspelled option of these without a
# word, so `hparams_search=dbpedia_optna` would run one plain job instead of the search.
OPTIONAL_GROUPS = ("hparams_search",)


def check_optional_choices(overrides: Sequence[str], config_dirs: Sequence[Path]) -> None:
    """An option chosen for an optional group exists in one of the config folders."""
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key not in OPTIONAL_GROUPS or value in ("", "null") or "," in value or "(" in value:
            continue
        found = [d / key for d in config_dirs if (d / key / f"{value}.yaml").is_file()]
        if not found:
            options = sorted({p.stem for d in config_dirs for p in (d / key).glob("*.yaml")})
            raise ConfigError(
                f"command line `{override}`: there is no {key}/{value}.yaml. Available: {', '.join(options) or 'none'}."
            )


def check_config_argument(cfg: Any, what: str) -> None:
    if not isinstance(cfg, DictConfig):
        raise ConfigError(
            f"{what}: cfg must be the config `expkit.compose([...])` returns (a DictConfig), got {type(cfg).__name__}."
        )


def workload_overrides(overrides: Sequence[str]) -> list[str]:
    """`overrides`, plus `~experiment` when a workload group is chosen without an experiment."""
    keys = {o.lstrip("+~").split("=", 1)[0] for o in overrides if not o.startswith("-")}
    if "experiment" not in keys and keys & set(WORKLOAD_GROUPS):
        return ["~experiment", *overrides]
    return list(overrides)


def hydra_error(err: Exception) -> ConfigError:
    import yaml

    text = " ".join(str(err).split())
    if isinstance(err, yaml.YAMLError):  # the message names the file, line and column
        return ConfigError(f"config file: {text}. Fix the YAML there.")
    if isinstance(err, UnicodeDecodeError):
        return ConfigError(f"config file: a YAML file of the config folders is not UTF-8 text ({err.reason} at byte "
                           f"{err.start}); save it as UTF-8.")
    if "LexerNoViableAlt" in text and any(ord(c) > 127 for c in text):
        return ConfigError(
            f"config: {text}. Hydra's override grammar takes non-ASCII characters only inside quotes: "
            "'key=\"välue\"' (the outer quotes are for the shell)."
        )
    return ConfigError(
        f"config: {text}. Check the override's spelling: `group=option` picks a file of conf/<group>/ "
        "(`expkit train --help` lists them), `key=value` sets an existing key, `+key=value` adds one."
    )


def compose(
    overrides: Sequence[str] = (), config_dir: str | Path | None = None, config_name: str = "train"
) -> DictConfig:
    """The config `expkit train OVERRIDES` would run, composed with Hydra's compose API.

    `config_dir` adds a folder of your own config groups (and a `train.yaml` there replaces
    expkit's primary config only if `config_name` names it). Nothing is written.
    """
    import yaml
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from expkit.config_files import conf_dir
    from expkit.run.stamp import register_resolvers

    register_resolvers()
    overrides = workload_overrides(override_list(overrides))
    if config_dir is not None:
        folder = Path(config_dir).resolve()
        if not folder.is_dir():
            raise ConfigError(f"--config-dir {config_dir}: no such folder.")
    check_optional_choices(overrides, [conf_dir()] + ([Path(config_dir)] if config_dir is not None else []))
    if config_dir is not None:
        overrides = [*overrides, f"hydra.searchpath=[file://{folder}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="train"):
            cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException, ValueError, yaml.YAMLError) as err:
        raise hydra_error(err) from None
    finally:
        GlobalHydra.instance().clear()
    # `${hydra:...}` in the job config (the run's name) resolves against this composition, and
    # error messages name the files the choices came from.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        if OmegaConf.is_interpolation(cfg, "name"):
            try:
                cfg.name = str(cfg.name)
            except OmegaConfBaseException as err:  # `name='${name}'`: a cycle
                from expkit.config_files import source_of_key

                raise ConfigError(
                    f"{source_of_key('name')}: `name` cannot be resolved: {str(err).splitlines()[0]}. Give the "
                    "run a plain name (name=my_run) or an expression that does not lead back to `name`."
                ) from None
        del cfg["hydra"]
    return cfg
