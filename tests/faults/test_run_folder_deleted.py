"""The run folder deleted while the run trains: one paragraph, a non-zero exit, no ghost folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from conftest import THREAD_ENV


def test_deleting_the_run_folder_mid_run_stops_it_without_recreating_it(tmp_path):
    # TensorBoard on (its writer thread is one of the things that fail first), many more epochs
    # than the test waits for: the deletion lands mid-training.
    args = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=2000",
            "data.batch_size=4", "trainer.max_epochs=100"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **THREAD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "train", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 150
        run_dir = None
        while time.monotonic() < deadline and proc.poll() is None and run_dir is None:
            for metrics in (tmp_path / "outputs").glob("regression/*/metrics.json"):
                try:
                    if json.loads(metrics.read_text()).get("epochs_done", 0) >= 1:
                        run_dir = metrics.parent
                except ValueError:
                    pass  # read while being replaced
            time.sleep(0.1)
        assert run_dir is not None, "the run never finished an epoch"
        # As `rm -rf` run again would: a checkpoint being written meanwhile can make one pass fail
        # with "Directory not empty".
        for _ in range(50):
            shutil.rmtree(run_dir, ignore_errors=True)
            if not run_dir.exists():
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 2, out[-2000:] + err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "was deleted (or moved) while the run was using it" in errors[0], err[-2000:]
    assert not run_dir.exists(), f"re-created: {sorted(p.name for p in run_dir.rglob('*'))}"
