"""A SIGTERM between or inside the phases after the fit: the exit code and the record agree.

The fault (issue 22): SIGTERM during the test after the fit exited 0 while metrics.json said
`interrupted` (Lightning's SIGTERMException carries no exit code), and one between the fit and the
test killed the process with the record still `running`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import THREAD_ENV, read_metrics
from inprocess import TINY, cli

HERE = Path(__file__).parent
# A test split of 300 rows is two batches of evaluation (256 a batch): Lightning stops a test only between batches.
SIGTERM_AT = ["data.n_samples=3000", "data.batch_size=32", "+callbacks.sigterm._target_=signal_callbacks.SigtermAt"]


@pytest.mark.parametrize("at, error", [
    ("test_batch", "interrupted by SIGTERM after the fit, during the test"),
    ("train_end", "interrupted by SIGTERM after the fit, before the test"),
])
def test_sigterm_after_the_fit_exits_143_and_records_interrupted(tmp_path, monkeypatch, at, error):
    result = cli("train", *TINY, *SIGTERM_AT, f"+callbacks.sigterm.at={at}", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 143, result.output
    (run_dir,) = (tmp_path / "outputs" / "regression").iterdir()
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "interrupted" and metrics["signal"] == "SIGTERM" and metrics["error"] == error
    assert metrics["epochs_done"] == 2 and not any(key.startswith("test/") for key in metrics)
    assert ("interrupted by SIGTERM after the fit (2 epoch(s), checkpoints complete), before its test finished. "
            f"Run the test with: expkit resume {run_dir.relative_to(tmp_path)}") in result.stderr, result.stderr

    # Nothing is lost: resume runs the missing test on the same checkpoints.
    resumed = cli("resume", str(run_dir), "callbacks.sigterm=null", "--trust-module", "signal_callbacks",
                  cwd=tmp_path, monkeypatch=monkeypatch)
    assert resumed.returncode == 0, resumed.output
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 2 and "test/loss" in metrics
    assert "signal" not in metrics and "error" not in metrics


def test_ctrl_c_during_the_test_exits_130_and_records_interrupted(tmp_path, monkeypatch):
    result = cli("train", *TINY, *SIGTERM_AT, "+callbacks.sigterm.at=test_batch", "+callbacks.sigterm.signal_name=SIGINT",
                 cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 130, result.output  # Lightning's own exit after Ctrl+C is sys.exit(1)
    (run_dir,) = (tmp_path / "outputs" / "regression").iterdir()
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "interrupted" and metrics["signal"] == "SIGINT"
    assert metrics["error"] == "interrupted by SIGINT after the fit, during the test"


@pytest.mark.slow
def test_sigterm_during_the_test_is_exit_143_from_the_process(tmp_path):
    env = {**os.environ, **THREAD_ENV, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "expkit", "train", *TINY, *SIGTERM_AT, "+callbacks.sigterm.at=test_batch"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 143, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (run_dir,) = (tmp_path / "outputs" / "regression").iterdir()
    assert read_metrics(run_dir)["status"] == "interrupted"
