"""SIGTERM to the process of a joblib sweep: the message says what each job kept and how to
continue, and continuing resumes the jobs from their last.ckpt.

The fault (issue 22): the sweep's process said "before training started; nothing was kept"
while two jobs had 4-7 epochs saved."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import time

import pytest

from conftest import LONG_TRAINING, read_metrics, start_training


@pytest.mark.slow
def test_sigterm_to_a_joblib_sweep_says_what_each_job_kept(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "logger=none", *LONG_TRAINING,
            "seed=1,2", f"hydra.sweep.dir={sweep}"]
    proc = start_training(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(list(sweep.glob("*/checkpoints/last.ckpt"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert len(list(sweep.glob("*/checkpoints/last.ckpt"))) == 2, "both jobs should have saved an epoch"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err and "nothing was kept" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("interrupted by SIGTERM")]
    assert f"the sweep {sweep} stopped; kept: " in line, line
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2 and ",seed=1," in jobs[0].name and ",seed=2," in jobs[1].name
    for job in jobs:
        said = int(re.search(rf"{re.escape(job.name)} (\d+) epoch\(s\) in checkpoints/last.ckpt", line).group(1))
        assert said >= 1 and read_metrics(job)["epochs_done"] >= said
    command = line.split("Continue it (finished jobs are skipped, the others resume from last.ckpt): ", 1)[1]
    words = shlex.split(command)
    assert words[:3] == ["expkit", "train", "-m"] and f"hydra.sweep.dir={sweep}" in words and "seed=1,2" in words
