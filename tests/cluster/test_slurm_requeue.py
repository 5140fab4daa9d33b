"""Preemption and time limits on the real cluster: the job is requeued and continues in its own
run folder from last.ckpt (no epoch trained twice, steps continuous), and with deterministic=true
ends with the metrics of an uninterrupted run. A job out of requeues is recorded `interrupted`,
and continuing the sweep resumes it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import (SMALL_JOB, job_ids_of, python_env, read_metrics, read_scalars, release_held, run_cli, start_sweep,
                      wait_until)
from slow_steps import slow_steps

# 200 small steps an epoch; full determinism for the comparison.
TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=1000",
            "data.batch_size=4", "deterministic=true", "optimizer.lr=0.05"]


def epochs_logged(run_dir: Path, max_epochs: int) -> list[int]:
    """The epochs train.log reports as done, in order (each attempt appends to the same log)."""
    return [int(n) for n in re.findall(rf"\] epoch (\d+)/{max_epochs}\b", (run_dir / "train.log").read_text())]


def assert_steps_continuous(run_dir: Path) -> None:
    steps = [step for step, _ in read_scalars(run_dir)["train/loss"]]
    assert steps == sorted(set(steps)), f"duplicated or unordered train/loss steps: {steps}"


@pytest.mark.slow
def test_preempted_job_resumes_in_place_with_the_metrics_of_an_uninterrupted_run(slurm_cluster, tmp_path):
    args = [*TRAINING, "trainer.max_epochs=4"]
    sweep = tmp_path / "sweep"
    # 4 s an epoch on any machine (20 ms a step): the signal, sent within a second of the first
    # last.ckpt, lands mid-training however fast the machine trains.
    proc = start_sweep([*SMALL_JOB, *args, *slow_steps(0.02), f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    try:
        ckpt = wait_until(lambda: next(sweep.glob("0_*/checkpoints/last.ckpt"), None), 300, proc)
        assert ckpt is not None, proc.stdout.read() if proc.poll() is not None else "no epoch finished"
        run_dir = ckpt.parents[1]
        (job,) = job_ids_of(sweep)
        # What a preemption (or `scancel --signal=USR2`) sends: submitit's requeue signal.
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
        assert wait_until(lambda: release_held({job}), 180, proc), "the job was not requeued"
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "Bypassing sacct" not in out
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished", metrics
    lineage = metrics["lineage"]
    assert [entry["command"] for entry in lineage] == ["requeue"], lineage
    assert lineage[0]["previous_status"] == "interrupted" and lineage[0]["checkpoint"] == "checkpoints/last.ckpt"
    assert epochs_logged(run_dir, 4) == [1, 2, 3, 4]
    log = (run_dir / "train.log").read_text()
    assert "Received SIGUSR2" in log and "Requeued by Slurm (restart 1): resuming" in log
    assert_steps_continuous(run_dir)

    reference = run_cli("train", *args, cwd=tmp_path, timeout=400)
    assert reference.returncode == 0, reference.output
    expected = read_metrics(reference.run_dirs()[0])
    for key in ("global_step", "epochs_done", "val/loss", "test/loss", "test/mae"):
        assert metrics[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-12), key


@pytest.mark.slow
def test_time_limit_requeues_then_out_of_requeues_the_sweep_continues_from_last_ckpt(slurm_cluster, tmp_path):
    # Slurm's time limit is two minutes; submitit's signal comes 60 s before it (Slurm checks its
    # timers every 30 s: the job lives 60-90 s). One requeue after a time limit (max_num_timeout=1):
    # the second time limit ends the job for good. 60 steps an epoch of at least 125 ms each (the
    # sleep, so that no machine is fast enough): 300 s for 40 epochs, more than the two attempts have.
    args = [*[a for a in TRAINING if not a.startswith(("data.batch_size=", "data.n_samples="))], "data.n_samples=600",
            "data.batch_size=8", "trainer.max_epochs=40", *slow_steps(0.125)]
    limits = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=1"]
    sweep = tmp_path / "sweep"
    proc = start_sweep([*SMALL_JOB, *limits, *args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    released: set[str] = set()
    try:
        while proc.poll() is None:
            jobs = set(job_ids_of(sweep))
            released |= release_held(jobs) if jobs else set()
            wait_until(lambda: proc.poll() is not None, 3)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = next(sweep.glob("0_*"))
    metrics = read_metrics(run_dir)
    # Reported, not waited for: the sweep ends, says the job stopped, and how to continue it.
    assert proc.returncode == 1, out[-3000:]
    assert "were stopped before the end" in out and f"hydra.sweep.dir={sweep}" in out, out[-3000:]
    assert metrics["status"] == "interrupted", metrics
    assert "timed-out too many times" in metrics["error"], metrics
    assert [entry["command"] for entry in metrics["lineage"]] == ["requeue"], metrics["lineage"]
    done = metrics["epochs_done"]
    assert 1 <= done < 40 and epochs_logged(run_dir, 40) == list(range(1, done + 1))

    # The same sweep continued (here with a longer time limit): the job resumes from last.ckpt.
    resumed = run_cli("train", "-m", *SMALL_JOB, "hydra.launcher.timeout_min=20", *args, f"hydra.sweep.dir={sweep}",
                      cwd=tmp_path, timeout=600, env=python_env())
    assert resumed.returncode == 0, resumed.output[-3000:]
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 40, metrics
    assert [entry["command"] for entry in metrics["lineage"]] == ["requeue", "resume"], metrics["lineage"]
    assert epochs_logged(run_dir, 40) == list(range(1, 41))
    assert_steps_continuous(run_dir)


@pytest.mark.slow
def test_plain_sbatch_job_saves_lightnings_hpc_checkpoint_and_slurm_requeues_it(slurm_cluster, tmp_path):
    """A plain `sbatch` script running `expkit train` (no submitit): Lightning's own auto-requeue.
    `scancel --signal=USR1` as Slurm's `--signal=USR1@90` would: after the batch it arrived in,
    hpc_ckpt_1.ckpt is saved in the run folder and the real `scontrol requeue` requeues the job;
    the record says `interrupted`; `expkit resume` continues from that checkpoint."""
    import sys

    script = tmp_path / "job.sh"
    command = [sys.executable, "-m", "expkit", "train", *TRAINING, "trainer.max_epochs=50", *slow_steps(0.02)]
    script.write_text("#!/bin/bash\n#SBATCH -N 1 --ntasks-per-node=1 --cpus-per-task=1 --mem=1G --requeue\n"
                      f"#SBATCH -o {tmp_path}/slurm-%j.out --open-mode=append\n"
                      f"cd {tmp_path}\nsrun {' '.join(command)}\n")
    job = subprocess.run(["sbatch", "--parsable", str(script)], cwd=tmp_path, env=python_env(), capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip().split(";")[0]
    try:
        last = wait_until(lambda: next(tmp_path.glob("outputs/regression/*/checkpoints/last.ckpt"), None), timeout=180)
        assert last is not None, (tmp_path / f"slurm-{job}.out").read_text()[-3000:] if (tmp_path / f"slurm-{job}.out").exists() else job
        run_dir = last.parents[1]
        subprocess.run(["scancel", "--signal=USR1", job], check=True, timeout=30)

        def requeued() -> bool:
            shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
            return "Restarts=1" in shown and read_metrics(run_dir).get("status") == "interrupted"

        assert wait_until(requeued, timeout=120), (tmp_path / f"slurm-{job}.out").read_text()[-3000:]
    finally:
        subprocess.run(["scancel", job], check=False, timeout=30)
    assert (run_dir / "hpc_ckpt_1.ckpt").is_file()
    assert "Received SIGUSR1 (Slurm's requeue signal)" in (run_dir / "train.log").read_text()
    step = read_metrics(run_dir)["global_step"]

    resumed = run_cli("resume", str(run_dir), "--trust-module", "slow_steps", f"trainer.max_epochs={step // 200 + 2}",
                      cwd=tmp_path, timeout=240,
                      env=python_env())
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "from hpc_ckpt_1.ckpt" in resumed.stdout
    assert read_metrics(run_dir)["status"] == "finished"
