"""The Slurm launcher's own logic, in-process (tests/cluster/ runs it against a real Slurm)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

from hydra_plugins.expkit_sweeper import slurm_launcher  # noqa: E402

import expkit  # noqa: E402
from expkit.commands.sweep_checks import check_slurm_shape  # noqa: E402
from expkit.errors import ConfigError  # noqa: E402
from expkit.run.record import RunRecord  # noqa: E402


def fake_job(tmp_path: Path, job_id: str, result: dict | None) -> SimpleNamespace:
    paths = SimpleNamespace(result_pickle=tmp_path / f"{job_id}_result.pkl", stdout=tmp_path / f"{job_id}.out")
    if result is not None:
        paths.result_pickle.write_bytes(b"")
    # What hydra-submitit-launcher's job returns: Hydra's JobReturn.
    done = JobReturn(overrides=[], status=JobStatus.COMPLETED, _return_value=result)
    return SimpleNamespace(job_id=job_id, num_tasks=1, paths=paths, results=lambda: [done])


def test_a_job_gone_from_the_queue_without_a_result_is_recorded_and_returned(tmp_path, monkeypatch):
    folders = [tmp_path / "0_a", tmp_path / "1_b"]
    for folder in folders:
        folder.mkdir()
    record = RunRecord(folders[1])
    record.start(experiment="x", monitor="val/loss", mode="min")
    record.update(epochs_done=3, pid=2**22 + 12345)  # a process that is not alive
    jobs = [fake_job(tmp_path, "7_0", {"status": "finished"}), fake_job(tmp_path, "7_1", None)]
    monkeypatch.setattr(slurm_launcher, "RESULT_GRACE_S", 0.0)
    monkeypatch.setattr(slurm_launcher, "queue_states", lambda ids: {})  # slurmctld no longer lists them
    returns = slurm_launcher.SweepWait(jobs, [["a=1"], ["b=2"]], folders, poll_s=0.01).wait()
    assert [r.return_value["status"] for r in returns] == ["finished", "interrupted"]
    lost = RunRecord(folders[1]).data
    assert lost["status"] == "interrupted" and lost["epochs_done"] == 3
    assert "Slurm job 7_1 ended (gone from the queue) without reporting a result" in lost["error"]


def test_a_queue_that_does_not_answer_is_not_taken_for_ended_jobs(tmp_path, monkeypatch):
    job = fake_job(tmp_path, "8_0", None)
    wait = slurm_launcher.SweepWait([job], [["a=1"]], [tmp_path], poll_s=0.01)
    monkeypatch.setattr(slurm_launcher, "RESULT_GRACE_S", 0.0)
    wait._check(0, job, None, queue_known=False)
    wait._check(0, job, "RUNNING", queue_known=True)
    assert wait.results == {}


def test_num_nodes_set_by_hand_must_match_the_launcher_nodes():
    cfg = expkit.compose(["experiment=regression", "+trainer.num_nodes=2"])
    check_slurm_shape(cfg, ["hydra.launcher.nodes=2"])
    with pytest.raises(ConfigError, match="trainer.num_nodes=2 but hydra.launcher.nodes=1"):
        check_slurm_shape(cfg, [])
    check_slurm_shape(expkit.compose(["experiment=regression"]), ["hydra.launcher.nodes=4"])


@pytest.mark.parametrize("override, said", [
    ("hydra.launcher.nodes=0", "hydra.launcher.nodes=0: give a whole number of at least 1"),
    ("hydra.launcher.nodes=-1", "hydra.launcher.nodes=-1: give a whole number of at least 1"),
    ("hydra.launcher.nodes=abc", "hydra.launcher.nodes=abc: give a whole number"),
    ("hydra.launcher.signal_delay_s=-5", "hydra.launcher.signal_delay_s=-5: give a whole number of 0 or more"),
    ("hydra.launcher.cpus_per_task=1.5", "hydra.launcher.cpus_per_task=1.5: give a whole number"),
    ("trainer.devices=1,2", "a Slurm sweep is one job array"),
    ("+trainer.num_nodes=2,1", "trainer.num_nodes cannot vary between its jobs"),
    ("hydra.launcher.tasks_per_node=1", "hydra.launcher.tasks_per_node=1 but trainer.devices=2"),
    ("trainer.devices=auto", "trainer.devices=auto: with hydra/launcher=slurm it is the number of tasks"),
])
def test_what_slurm_cannot_run_is_refused_before_submitting(override, said):
    devices = "auto" if override == "trainer.devices=auto" else 2
    cfg = expkit.compose(["experiment=regression", "trainer=ddp_cpu", f"trainer.devices={devices}"])
    with pytest.raises(ConfigError, match=re.escape(said)):
        check_slurm_shape(cfg, [override])


def test_a_job_slurm_will_never_start_is_cancelled_and_recorded_failed(tmp_path, monkeypatch):
    cancelled = []
    monkeypatch.setattr(slurm_launcher.subprocess, "run", lambda args, **kw: cancelled.append(args))
    monkeypatch.setattr(slurm_launcher, "queue_states", lambda ids: {"11_0": "PENDING:PartitionNodeLimit"})
    folder = tmp_path / "0_a"
    (ret,) = slurm_launcher.SweepWait([fake_job(tmp_path, "11_0", None)], [["a=1"]], [folder], poll_s=0.01).wait()
    assert ret.return_value["status"] == "failed" and cancelled == [["scancel", "11_0"]]
    record = RunRecord(folder).data
    assert "can never start as asked (squeue's reason: PartitionNodeLimit" in record["error"]


def test_squeue_reasons_that_never_clear_are_told_apart(monkeypatch):
    out = "12_0 PENDING PartitionNodeLimit\n12_1 PENDING Resources\n12_2 RUNNING None\n"
    monkeypatch.setattr(slurm_launcher.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=out, stderr=""))
    assert slurm_launcher.queue_states({"12"}) == {"12_0": "PENDING:PartitionNodeLimit", "12_1": "PENDING",
                                                  "12_2": "RUNNING"}


def test_a_job_lost_before_it_started_gets_a_record_the_summary_lists(tmp_path, monkeypatch):
    from expkit.runs.collect import read_runs

    folder = tmp_path / "0_a"  # never created: the job died before Hydra made its folder
    monkeypatch.setattr(slurm_launcher, "RESULT_GRACE_S", 0.0)
    monkeypatch.setattr(slurm_launcher, "queue_states", lambda ids: {"9_0": "FAILED"})
    (ret,) = slurm_launcher.SweepWait([fake_job(tmp_path, "9_0", None)], [["a=1"]], [folder], poll_s=0.01).wait()
    assert ret.return_value["status"] == "failed"
    (row,) = read_runs(tmp_path)
    assert row.status == "failed" and RunRecord(folder).data["slurm_state"] == "FAILED"


@pytest.mark.slow
def test_a_launcher_without_multirun_is_said_to_train_here(tmp_path):
    from conftest import run_cli

    result = run_cli("train", "experiment=regression", "trainer.max_epochs=1", "data.n_samples=100",
                     "hydra/launcher=slurm", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "hydra/launcher=slurm launches the jobs of a sweep: without -m this run trains here" in result.output


def test_sbatch_refusing_the_jobs_is_one_paragraph(capsys):
    from submitit.core.utils import FailedJobError

    err = FailedJobError("sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed")
    with pytest.raises(SystemExit) as exit_:
        slurm_launcher.refused(err)
    said = capsys.readouterr().err
    assert exit_.value.code == 2 and said.count("\n") == 1
    assert said.startswith("error: Slurm refused the sweep's jobs, nothing was submitted: sbatch: error: invalid partition")
