"""A user's own model, in a package of their own with a config folder of their own (README:
'Add your own dataset or model'): trained with --config-dir, evaluated and predicted with
--trust-module (a run folder's config is a file: its own classes run only when trusted)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import run_cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow

MODEL = '''
import torch
from torch import nn


class TinyMLP(nn.Module):
    """y = MLP(x): one hidden layer of `width` units."""

    input_format = "features"          # the batches of expkit's regression data

    def __init__(self, in_features: int, width: int = 8) -> None:   # in_features: from the data
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
'''


def make_package(root: Path) -> tuple[Path, dict]:
    pkg = root / "src" / "mylab"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(MODEL)
    conf = root / "conf" / "model"
    conf.mkdir(parents=True)
    (conf / "tiny_mlp.yaml").write_text(textwrap.dedent("""\
        _target_: mylab.models.TinyMLP
        _partial_: true
        width: 16
    """))
    env = {"PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    return root / "conf", env


def test_own_model_trains_evaluates_and_predicts(workdir):
    conf, env = make_package(workdir / "lab")
    result = run_cli("train", "--config-dir", str(conf), "experiment=regression", "model=tiny_mlp",
                     "trainer.max_epochs=3", cwd=workdir, env=env)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    resolved = (run_dir / ".hydra" / "resolved.yaml").read_text()
    assert "mylab.models.TinyMLP" in resolved and "width: 16" in resolved
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"

    # The run's config names a class outside expkit: building it from the folder needs consent.
    refused = run_cli("eval", str(run_dir), cwd=workdir, env=env)
    assert refused.returncode == 2 and "mylab.models.TinyMLP" in refused.stderr and "--trust-module" in refused.stderr
    assert "Traceback" not in refused.output

    evaluated = run_cli("eval", str(run_dir), "--trust-module", "mylab", cwd=workdir, env=env)
    assert evaluated.returncode == 0, evaluated.output
    assert "test/loss" in json.loads((run_dir / "eval.json").read_text())
    predicted = run_cli("predict", str(run_dir), "0.5", "--json", "--trust-module", "mylab", cwd=workdir, env=env)
    assert predicted.returncode == 0, predicted.output
    assert isinstance(json.loads(predicted.stdout.splitlines()[-1])["prediction"], float)


# -- any nn.Module is a model ------------------------------------------------------------------------
PLAIN_MODEL = '''
import torch


class Plain(torch.nn.Module):
    """Imports nothing from expkit and declares no batch layout."""

    def __init__(self, in_features: int, hidden: int = 8) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(in_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)
'''


def make_plain_package(root: Path) -> tuple[Path, dict]:
    (root / "plain_models.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "plain_models.py").write_text(PLAIN_MODEL)
    conf = root / "conf" / "model"
    conf.mkdir(parents=True)
    (conf / "plain.yaml").write_text("_target_: plain_models.Plain\n_partial_: true\nhidden: 4\n")
    env = {"PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return root / "conf", env


@pytest.mark.slow
def test_plain_module_without_expkit_attributes_runs_every_command(workdir):
    conf, env = make_plain_package(workdir / "lab")
    trust = ["--trust-module", "plain_models"]
    result = run_cli("train", "--config-dir", str(conf), "experiment=regression", "model=plain", "deterministic=true",
                     "trainer.max_epochs=2", cwd=workdir, env=env)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    first = json.loads((run_dir / "metrics.json").read_text())
    assert first["status"] == "finished" and first["epochs_done"] == 2

    evaluated = run_cli("eval", str(run_dir), *trust, cwd=workdir, env=env)
    assert evaluated.returncode == 0, evaluated.output
    assert json.loads((run_dir / "eval.json").read_text())["test/loss"] == pytest.approx(first["test/loss"], rel=1e-5)
    predicted = run_cli("predict", str(run_dir), "0.5", "--json", *trust, cwd=workdir, env=env)
    assert predicted.returncode == 0, predicted.output
    from_run = json.loads(predicted.stdout.splitlines()[-1])["prediction"]

    export_dir = workdir / "export"
    exported = run_cli("export", str(run_dir), str(export_dir), *trust, cwd=workdir, env=env)
    assert exported.returncode == 0, exported.output
    assert json.loads((export_dir / "config.json").read_text())["input_format"] == "features"
    from_export = run_cli("predict", str(export_dir), "0.5", "--json", *trust, cwd=workdir, env=env)
    assert from_export.returncode == 0, from_export.output
    assert json.loads(from_export.stdout.splitlines()[-1])["prediction"] == pytest.approx(from_run, rel=1e-5)

    resumed = run_cli("resume", str(run_dir), "trainer.max_epochs=3", *trust, cwd=workdir, env=env)
    assert resumed.returncode == 0, resumed.output
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_done"] == 3

    reproduced = run_cli("reproduce", str(run_dir), "--check", *trust, cwd=workdir, env=env)
    assert reproduced.returncode == 0, reproduced.output


@pytest.mark.slow
def test_torch_linear_is_the_regression_model(workdir):
    result = run_cli("train", "experiment=regression", "model=torch_linear", "trainer.max_epochs=3", cwd=workdir)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test/loss"] < 0.05
    # A run folder naming torch.nn.Linear is evaluated without --trust-module: torch's layers are allowed.
    evaluated = run_cli("eval", str(run_dir), cwd=workdir)
    assert evaluated.returncode == 0, evaluated.output


def test_contract_still_refuses_a_real_mismatch():
    from expkit.contract import check_components
    from expkit.data.regression import RegressionDataModule
    from expkit.data.text import TextClassificationDataModule
    from expkit.errors import ConfigError
    from expkit.tasks.classification import ClassificationTask
    from expkit.tasks.regression import RegressionTask

    class Plain(torch.nn.Module):
        def __init__(self, vocab_size: int, in_features: int = 1) -> None:
            super().__init__()

    # Text data builds two layouts: a model that names none is asked to choose.
    with pytest.raises(ConfigError, match=r"several batch layouts .*_input_format_: bag"):
        check_components(TextClassificationDataModule, Plain, ClassificationTask, {}, {})
    # The YAML's choice decides, and is checked against the layouts the data builds.
    check_components(TextClassificationDataModule, Plain, ClassificationTask, {"_input_format_": "padded"}, {})
    with pytest.raises(ConfigError, match=r"takes 'image' batches \(its YAML's _input_format_\).*only \['features'\]"):
        check_components(RegressionDataModule, Plain, RegressionTask, {"_input_format_": "image", "vocab_size": 3}, {})
    # One layout and no declaration: the model takes it.
    check_components(RegressionDataModule, Plain, RegressionTask, {"vocab_size": 3}, {})


def test_a_tracker_without_its_package_is_refused_before_the_run(monkeypatch):
    import importlib.util

    import expkit
    from expkit.errors import ConfigError
    from expkit.validation import validate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    cfg = expkit.compose(["experiment=regression", "logger=[tensorboard,wandb]", "paths.run_dir=/tmp/x"])
    with pytest.raises(ConfigError, match=r"logger.wandb needs the wandb package.*pip install 'expkit\[wandb\]'"):
        validate(cfg)
