"""`resume` of a run that `train` is still training is refused, naming the training process."""

from __future__ import annotations

import signal
import subprocess

import pytest

from conftest import LONG_TRAINING, start_training, wait_for_run
from inprocess import cli

# Every test here starts CLI processes or trains for real.
pytestmark = pytest.mark.slow


def test_resume_of_a_run_still_training_is_refused(tmp_path, monkeypatch):
    proc = start_training(["logger=none", *LONG_TRAINING], tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run_dir = wait_for_run(proc, tmp_path)
        assert run_dir is not None, "no checkpoint after the first epoch"
        resumed = cli("resume", str(run_dir), "trainer.max_epochs=200", cwd=tmp_path, monkeypatch=monkeypatch)
        assert proc.poll() is None, "the training ended before the resume was tried"
        assert resumed.returncode == 2, resumed.output
        assert f"is in use by process {proc.pid} (train, since" in resumed.stderr, resumed.stderr
        assert "Traceback" not in resumed.output
        proc.send_signal(signal.SIGTERM)  # the training itself goes on to save and stop as usual
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 143, err[-2000:]
    assert not (run_dir / ".expkit.lock").exists()
