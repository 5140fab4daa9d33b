"""A sweep as a Slurm job array: array_parallelism bounds what Slurm runs at once, a failing job
is reported while the others finish, and continuing the sweep submits only the unfinished job."""

from __future__ import annotations


import pytest

from conftest import SMALL_JOB, job_ids_of, read_metrics, run_cli, start_sweep, watch_running

# Job 2's learning rate makes the loss overflow: the run fails (FiniteLossGuard) at its first steps.
TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=1000",
            "data.batch_size=8", "trainer.max_epochs=3", "optimizer.lr=0.1,0.2,1e30,0.3"]


@pytest.mark.slow
def test_four_jobs_two_at_a_time_one_fails_and_continuing_reruns_only_it(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    args = [*SMALL_JOB, "hydra.launcher.array_parallelism=2", *TRAINING, f"hydra.sweep.dir={sweep}"]
    proc = start_sweep(args, cwd=tmp_path)
    out, most_running, seen = watch_running(proc, tmp_path)
    array = seen[0].split("_")[0] if seen else None
    assert proc.returncode == 1, out[-3000:]
    assert most_running == 2, f"Slurm ran {most_running} of the sweep's jobs at once"
    statuses = {n: read_metrics(next(sweep.glob(f"{n}_*")))["status"] for n in range(4)}
    assert statuses == {0: "finished", 1: "finished", 2: "failed", 3: "finished"}, statuses
    assert "1 job(s) of the sweep failed" in out and "Traceback" not in out
    assert "\n  2: " in out, out[-3000:]  # with why it failed, which the job logged on its node
    submitted = set(job_ids_of(sweep))
    assert submitted == {f"{array}_{n}" for n in range(4)}, submitted
    finished_before = {n: read_metrics(next(sweep.glob(f"{n}_*")))["started"] for n in (0, 1, 3)}

    again = run_cli("train", "-m", *args, cwd=tmp_path, timeout=400)
    assert again.returncode == 1, again.output[-3000:]
    new = set(job_ids_of(sweep)) - submitted
    assert len(new) == 1, new  # one Slurm job: job 2 alone
    assert {n: read_metrics(next(sweep.glob(f"{n}_*")))["started"] for n in (0, 1, 3)} == finished_before
    assert read_metrics(next(sweep.glob("2_*")))["lineage"][-1]["command"] == "rerun"
    assert again.output.count("already finished: skipped") == 3
