"""`kill -9` during `expkit export`: nothing that looks like an export is left, and the same
command run again writes the export.

The fault (issue 22): the half-written folder was called "not an expkit run folder" by predict,
and a new export refused it as "exists and is not empty"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import THREAD_ENV
from inprocess import cli, finished_run  # noqa: F401 - the module's trained run

# The export process kills itself with SIGKILL at its last step (the model card), after the
# weights, config.json and preprocessing.json are written: the worst moment to die.
KILLED_EXPORT = """
import os, signal, sys
import expkit.export_folder as export_folder
export_folder.model_card = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
from expkit.cli import main
sys.exit(main(["export", sys.argv[1], sys.argv[2]]))
"""


@pytest.mark.slow
def test_an_export_killed_midway_leaves_nothing_and_can_be_run_again(finished_run, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "exports" / "model"
    env = {**os.environ, **THREAD_ENV}
    proc = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(finished_run), str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not out.exists(), "a killed export must not leave a folder under the export's name"
    (leftover,) = (tmp_path / "exports").iterdir()  # the hidden partial folder, named after the dead process
    assert leftover.name.startswith(".model.partial-") and (leftover / "model.safetensors").is_file()

    predicted = cli("predict", str(out), "0.5", cwd=tmp_path, monkeypatch=monkeypatch)
    assert predicted.returncode == 2 and "not an expkit run folder" not in predicted.stderr

    again = cli("export", str(finished_run), str(out), cwd=tmp_path, monkeypatch=monkeypatch)
    assert again.returncode == 0, again.output
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["model"]  # the dead one's partial is gone
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "preprocessing.json"]
    predicted = cli("predict", str(out), "0.5", cwd=tmp_path, monkeypatch=monkeypatch)
    assert predicted.returncode == 0, predicted.output


def test_an_empty_folder_made_for_the_export_is_used_and_a_refused_export_leaves_it_empty(finished_run, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "made"
    out.mkdir()
    refused = cli("export", str(finished_run), str(out), "--checkpoint", "nosuch", cwd=tmp_path, monkeypatch=monkeypatch)
    assert refused.returncode == 2, refused.output
    assert out.is_dir() and not any(out.iterdir()) and [p.name for p in tmp_path.iterdir()] == ["made"]
    done = cli("export", str(finished_run), str(out), cwd=tmp_path, monkeypatch=monkeypatch)
    assert done.returncode == 0, done.output
    assert (out / "model.safetensors").is_file() and [p.name for p in tmp_path.iterdir()] == ["made"]
