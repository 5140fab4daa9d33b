"""A job of a sweep that Slurm ends from outside (scancel, the out-of-memory killer) never hangs the
sweep's command: the others finish, the stopped ones are recorded `interrupted` with what they
saved, the summary reports them and the command exits 1 with the way to continue."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from conftest import SMALL_JOB, job_ids_of, read_metrics, start_sweep, wait_until

TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=1000",
            "data.batch_size=4", "trainer.max_epochs=8"]


@pytest.mark.slow
def test_cancelled_and_killed_jobs_are_reported_while_the_others_finish(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    proc = start_sweep([*SMALL_JOB, *TRAINING, "optimizer.lr=0.05,0.1,0.2", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    try:
        started = wait_until(lambda: all(any(sweep.glob(f"{n}_*/checkpoints/last.ckpt")) for n in (0, 1)), 300, proc)
        assert started, "jobs 0 and 1 did not finish an epoch"
        jobs = job_ids_of(sweep)
        subprocess.run(["scancel", jobs[0]], check=True, timeout=30)  # SIGTERM, then SIGKILL after KillWait
        # The out-of-memory killer's way: SIGKILL to the training process, no chance to write anything.
        os.kill(read_metrics(next(sweep.glob("1_*")))["pid"], signal.SIGKILL)
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-3000:]
    assert "Bypassing sacct" not in out and "Traceback" not in out, out[-3000:]
    # One line per change of the sweep's state (how many run at once depends on the cluster's load).
    states = re.findall(r"Slurm: (.*)", out)
    # The killed job is noticed as lost; the cancelled one reports back itself (or, killed after
    # KillWait on a busy machine, is lost too).
    assert states and states[-1] in ("2 done, 1 lost", "1 done, 2 lost"), states
    assert all(a != b for a, b in zip(states, states[1:])), states
    assert "2 job(s) of the sweep were stopped before the end" in out and f"hydra.sweep.dir={sweep}" in out
    cancelled, killed, finished = (read_metrics(next(sweep.glob(f"{n}_*"))) for n in (0, 1, 2))
    assert finished["status"] == "finished"
    assert cancelled["status"] == "interrupted" and cancelled["signal"] == "SIGTERM", cancelled
    assert killed["status"] == "interrupted" and "without reporting a result" in killed["error"], killed
    for n in (0, 1):
        assert any(sweep.glob(f"{n}_*/checkpoints/last.ckpt"))
    summary = (sweep / "summary.csv").read_text()
    assert summary.count("interrupted") == 2 and summary.count("finished") == 1, summary
