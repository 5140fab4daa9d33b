"""A checkpoint naming code to import (`hyper_parameters._instantiator`, `_class_path`, the
datamodule's hyper-parameters too) makes no expkit command import or call it.

Lightning before 2.6.6 imported and called `_instantiator` in `load_from_checkpoint`, which
`weights_only=True` does not stop (CVE-2026-58659 / GHSA-qqmf-gpg7-g8gw). expkit never calls
`load_from_checkpoint`, and its floor is 2.6.6; this test holds both to it through the CLI: a
probe module on the Python path writes a marker file when imported or called, and every command
that reads a checkpoint (eval, predict, export, resume, reproduce) runs on a planted run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from packaging.version import Version

from conftest import run_cli

PROBE = '''
import os, pathlib
pathlib.Path(os.environ["EXPKIT_PROBE_MARKER"]).write_text("imported")

def make(cls, kwargs):
    pathlib.Path(os.environ["EXPKIT_PROBE_MARKER"]).write_text("called")
    return cls(**kwargs)

class Probe:
    pass
'''
NAMED = {"_instantiator": "expkit_probe.make", "_class_path": "expkit_probe.Probe"}


def plant(checkpoint: Path) -> None:
    """Put the probe's names where Lightning's loaders look (hard links share the planting)."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"] = {**ckpt.get("hyper_parameters", {}), **NAMED}
    ckpt["datamodule_hyper_parameters"] = dict(NAMED)
    ckpt["hparams_name"] = "kwargs"
    torch.save(ckpt, checkpoint)


def test_installed_lightning_and_torch_are_past_the_known_holes():
    import pytorch_lightning

    assert Version(pytorch_lightning.__version__) >= Version("2.6.6")  # GHSA-qqmf-gpg7-g8gw; not 2.6.2/2.6.3
    assert Version(torch.__version__.split("+")[0]) >= Version("2.10")  # GHSA-63cw-57p8-fm3p


@pytest.mark.slow
def test_no_command_imports_or_calls_a_name_from_a_checkpoint(tmp_path):
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "expkit_probe.py").write_text(PROBE)
    marker = tmp_path / "probe-ran.txt"
    env = {"EXPKIT_PROBE_MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(probe_dir), os.environ.get("PYTHONPATH")]))}
    # The harness can see an import: importing the probe writes the marker.
    subprocess.run([sys.executable, "-c", "import expkit_probe"], env={**os.environ, **env}, check=True)
    assert marker.read_text() == "imported"
    marker.unlink()

    tiny = ["experiment=regression", "data.n_samples=64", "trainer.max_epochs=1", "logger=none", "callbacks.progress_bar=null"]
    trained = run_cli("train", *tiny, cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.output
    (run_dir,) = trained.run_dirs("regression")
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        plant(checkpoint)
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["_instantiator"]

    commands = [
        ("eval", str(run_dir)),
        ("predict", str(run_dir), "0.5"),
        ("export", str(run_dir), str(tmp_path / "export")),
        ("resume", str(run_dir), "trainer.max_epochs=2"),
        ("reproduce", str(run_dir)),
    ]
    for command in commands:
        result = run_cli(*command, cwd=tmp_path, env=env)
        assert result.returncode == 0, (command, result.output[-3000:])
        assert not marker.exists(), f"expkit {command[0]} imported or called {marker.read_text()} the checkpoint's name"
