"""SIGTERM (what a cluster scheduler sends before it kills) ends a run as Ctrl+C does."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from conftest import LONG_TRAINING, start_training, wait_for_run
from inprocess import cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow


def test_sigterm_saves_marks_interrupted_exits_143_and_resumes(tmp_path, monkeypatch):
    args = ["logger=none", *LONG_TRAINING]
    proc = start_training(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_dir = wait_for_run(proc, tmp_path)
        assert run_dir is not None, "no checkpoint after the first epoch"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("interrupted by SIGTERM")]
    assert len(lines) == 1 and f"expkit resume {run_dir.relative_to(tmp_path)}" in lines[0], err[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["signal"] == "SIGTERM", metrics
    done = metrics["epochs_done"]
    assert 1 <= done < 100
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    # Resumable: the same folder continues (one more epoch, to keep the test short).
    resumed = cli("resume", str(run_dir), f"trainer.max_epochs={done + 1}", cwd=tmp_path, monkeypatch=monkeypatch)
    assert resumed.returncode == 0, resumed.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_done"] == done + 1
    assert "signal" not in metrics and "error" not in metrics
