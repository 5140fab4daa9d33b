"""Every option of every config group composes and its `_target_` instantiates."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from expkit.components import build_callbacks, build_datamodule, build_loggers, build_task, instantiate_node
from expkit.config_files import conf_dir, experiments_dir
from expkit.run.stamp import register_resolvers

GROUPS = sorted(p.name for p in conf_dir().iterdir() if p.is_dir() and p.name not in ("hydra", "hparams_search"))
OPTIONS = [(group, f.stem) for group in GROUPS for f in sorted((conf_dir() / group).glob("*.yaml"))]
EXPERIMENTS = sorted(f.stem for f in experiments_dir().glob("*.yaml"))


def compose_cfg(tmp_path: Path, *overrides: str):
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"paths.run_dir={tmp_path}", "name=test", f"paths.cache_dir={tmp_path}/cache", *overrides],
        )


class Rows:
    """A torch Dataset in its plainest form: __len__ and __getitem__ giving (input, target)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        import torch

        return torch.tensor([float(i)]), float(i)


def test_every_group_has_options():
    for group in ("data", "model", "task", "optimizer", "scheduler", "trainer", "logger", "callbacks", "paths"):
        assert (group, "default") in OPTIONS or any(g == group for g, _ in OPTIONS), group


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(tmp_path, experiment):
    cfg = compose_cfg(tmp_path, f"experiment={experiment}")
    OmegaConf.resolve(cfg)
    assert cfg.monitor.metric


@pytest.mark.parametrize("group,option", OPTIONS)
def test_option_composes_and_instantiates(tmp_path, group, option):
    # Trackers that keep one store for all runs (MLflow's database) keep it under the output root.
    roots = [f"paths.output_root={tmp_path}"] if group == "logger" else []
    cfg = compose_cfg(tmp_path, f"{group}={option}", *matching_overrides(group, option), *roots)
    if group == "data":
        build_datamodule(cfg)
    elif group in ("model", "task", "optimizer", "scheduler"):
        datamodule = build_datamodule(cfg)
        datamodule.setup("fit")
        task = build_task(cfg, datamodule)
        optimizers = task.configure_optimizers()
        assert optimizers
    elif group == "trainer":
        import torch

        if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
            pytest.skip("no GPU on this machine: trainer=gpu composes, but Lightning cannot build it")
        trainer = instantiate_node(cfg, "trainer", logger=False, callbacks=build_callbacks(cfg, with_logger=False))
        assert trainer.max_epochs == cfg.trainer.max_epochs
    elif group == "logger":
        for logger in build_loggers(cfg):
            assert str(tmp_path) in str(logger.save_dir or getattr(logger, "_tracking_uri", ""))
    elif group == "callbacks":
        callbacks = build_callbacks(cfg, with_logger=True)
        assert all(not isinstance(c, functools.partial) for c in callbacks)
    elif group == "paths":
        assert cfg.paths.output_root


def matching_overrides(group: str, option: str) -> list[str]:
    """A data module for the model under test (text models need text data, etc.)."""
    text_models = {"embedding_bag", "embedding_bag_weighted", "lstm", "mean_mlp"}
    if group == "model" and option in text_models:
        return ["experiment=dbpedia_sample"]
    if group == "task" and option == "classification":
        return ["experiment=dbpedia_sample"]
    if group == "data" and option.startswith("dbpedia"):
        return ["experiment=dbpedia_sample"]
    if (group, option) in {("model", "cnn"), ("data", "digits")}:
        return ["experiment=digits"]
    if (group, option) == ("data", "dataset"):  # its train is mandatory (???): any torch Dataset
        return ["experiment=regression", "data.train={_target_:test_config_groups.Rows}"]
    if (group, option) == ("data", "image_folder"):  # its train_path is mandatory (???)
        return ["experiment=digits", "data.train_path=${expkit_data:digits/labels.csv}"]
    return ["experiment=regression"]
