"""What the real Slurm will not run: refused by sbatch (one paragraph, exit 2), or accepted and
left pending for a reason that never clears (cancelled, recorded failed, exit 1: no endless wait)."""

from __future__ import annotations

import pytest

from conftest import SMALL_JOB, read_metrics, run_cli, running_jobs, squeue

TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=200",
            "trainer.max_epochs=1"]


@pytest.mark.slow
def test_a_partition_slurm_does_not_have_is_refused_by_sbatch_in_one_paragraph(slurm_cluster, tmp_path):
    result = run_cli("train", "-m", *SMALL_JOB, "hydra.launcher.partition=nope", *TRAINING,
                     f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output[-3000:]
    assert "error: Slurm refused the sweep's jobs, nothing was submitted: sbatch: error:" in result.stderr


@pytest.mark.slow
def test_more_nodes_than_the_partition_has_is_cancelled_not_waited_for(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("train", "-m", *SMALL_JOB, "hydra.launcher.nodes=3", *TRAINING, f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path, timeout=180)
    assert result.returncode == 1 and "Traceback" not in result.output, result.output[-3000:]
    record = read_metrics(next(sweep.glob("0_*")))
    assert record["status"] == "failed" and "can never start as asked" in record["error"], record
    assert "PartitionNodeLimit" in record["error"] or "PartitionConfig" in record["error"]
    assert not running_jobs(tmp_path) and not [line for line in squeue("-t", "PENDING", "-o", "%Z")
                                                if line.strip() == str(tmp_path)]
