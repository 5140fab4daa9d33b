"""`resume` of a run that `train` is still training is refused, naming the training process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import THREAD_ENV
from inprocess import cli


def test_resume_of_a_run_still_training_is_refused(tmp_path, monkeypatch):
    args = ["experiment=regression", "logger=none", "trainer=cpu", "callbacks.progress_bar=null",
            "data.n_samples=2000", "data.batch_size=4", "trainer.max_epochs=100"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "train", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 150
        run_dir = None
        while time.monotonic() < deadline and proc.poll() is None and run_dir is None:
            found = list((tmp_path / "outputs").glob("regression/*/checkpoints/last.ckpt"))
            run_dir = found[0].parents[1] if found else None
            time.sleep(0.1)
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
