"""A user's own model, in a package of their own with a config folder of their own (README:
'Add your own dataset or model'): trained with --config-dir, evaluated and predicted with
--trust-module (a run folder's config is a file: its own classes run only when trusted)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

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
