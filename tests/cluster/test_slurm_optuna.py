"""An Optuna search whose trials are Slurm jobs: two at a time (hydra.sweeper.n_jobs=2), pruned
from what the other jobs reported to the study (its journal file, written by processes on both
nodes), and, interrupted, cancelled on the cluster and continued by the same command."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from conftest import SMALL_JOB, read_metrics, running_jobs, start_sweep, wait_until, watch_running
from slow_steps import slow_steps

# 60 steps an epoch, 80 ms each at least (the sleep): about 5 s an epoch on any machine.
TRAINING = ["experiment=regression", "trainer=cpu", "callbacks.progress_bar=null", "data.n_samples=600",
            "data.batch_size=8", "optimizer=sgd", "trainer.max_epochs=4", *slow_steps(0.08)]
SEARCH = ["hydra/sweeper=expkit_optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
          "hydra.sweeper.sampler=random", "hydra.sweeper.custom_search_space=search_spaces.good_then_bad"]


def study_trials(tmp_path: Path) -> list:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    (journal,) = (tmp_path / "outputs").glob("**/optuna/*.journal")
    storage = JournalStorage(JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials(deepcopy=False)


@pytest.mark.slow
def test_trials_run_two_at_a_time_prune_across_jobs_and_an_interrupted_search_continues(slurm_cluster, tmp_path):
    from optuna.trial import TrialState

    sweep = tmp_path / "first"
    args = [*SMALL_JOB, *SEARCH, *TRAINING]

    # Interrupted while its first two trials train: their jobs are cancelled, the trials failed.
    proc = start_sweep([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    try:
        both = wait_until(lambda: all(any(sweep.glob(f"{n}_*/checkpoints/last.ckpt")) for n in (0, 1)), 300, proc)
        assert both, proc.stdout.read() if proc.poll() is not None else "trials 0 and 1 did not finish an epoch"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert "Slurm job(s)" in out and "cancelled" in out, out[-3000:]
    assert wait_until(lambda: not running_jobs(tmp_path), 120), "the interrupted search's jobs still run"
    assert [t.state for t in study_trials(tmp_path)] == [TrialState.FAIL] * 2
    cancelled = [read_metrics(next(sweep.glob(f"{n}_*"))) for n in (0, 1)]
    assert [r["status"] for r in cancelled] == ["interrupted"] * 2, cancelled

    # Continued (in a sweep folder of its own, as each search is by default): four more trials,
    # never more than two jobs at once; the two bad ones are pruned, judged from the good ones'
    # epochs that other processes reported.
    sweep = tmp_path / "again"
    proc = start_sweep([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    out, most_running, _ = watch_running(proc, tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert most_running == 2, f"Slurm ran {most_running} trials at once"
    states = [t.state for t in study_trials(tmp_path)]
    assert states == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 2, states
    assert "Traceback" not in out and "Bypassing sacct" not in out, out[-3000:]
    assert "Best trial 2: " in out or "Best trial 3: " in out, out[-3000:]
    # Job folders are numbered by trial: the continued search's are 2 to 5.
    records = {n: read_metrics(next(sweep.glob(f"{n}_*"))) for n in range(2, 6)}
    assert [records[n]["status"] for n in range(2, 6)] == ["finished"] * 2 + ["pruned"] * 2
    assert all(records[n]["epochs_done"] == 4 for n in (2, 3))
    assert all(records[n]["epochs_done"] < 4 for n in (4, 5)), records
