"""Sweeps and Optuna searches through `expkit train`, as a user runs them: pinned keys, Hydra's
ranges, samplers by name, several objectives, the failure budget, interrupted trials, two
processes on one sweep or study, and job folder names for any value and any hydra.sweep.subdir."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import read_metrics, run_cli

pytestmark = pytest.mark.slow

TINY = ["experiment=regression", "data.n_samples=100", "trainer.max_epochs=1"]
SEARCH = ["train", *TINY, "hparams_search=regression_optuna"]


def sweep_dirs(cwd: Path) -> list[Path]:
    root = cwd / "outputs" / "regression" / "multirun"
    return sorted(root.iterdir()) if root.is_dir() else []


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.is_dir()), key=lambda p: int(p.name.split("_")[0]))


def study(workdir: Path, name: str = "regression"):
    import optuna

    from expkit.run.study import open_storage

    journal = workdir / "outputs" / "regression" / "optuna" / f"{name}.journal"
    return optuna.load_study(study_name=name, storage=open_storage(str(journal)))


def test_pinned_keys_win_and_a_grid_runs_every_value_of_a_float_range(workdir):
    # The search space has optimizer, optimizer.lr and data.batch_size: the command line pins two
    # and replaces the third with a range whose last value (0.09) Hydra includes.
    result = run_cli(*SEARCH, "optimizer=adam", "data.batch_size=32", "optimizer.lr=range(0.01,0.1,step=0.04)",
                     "hydra.sweeper.sampler=grid", cwd=workdir)
    assert result.returncode == 0, result.output
    assert "The grid has 3 points: the search runs 3 trials, not n_trials=12" in result.output
    (sweep,) = sweep_dirs(workdir)
    folders = jobs(sweep)
    assert len(folders) == 3
    lrs = []
    for job in folders:
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        keys = [o.split("=", 1)[0] for o in overrides]
        assert keys.count("optimizer") == keys.count("data.batch_size") == keys.count("optimizer.lr") == 1, overrides
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        assert config["data"]["batch_size"] == 32 and "Adam" in config["optimizer"]["_target_"]
        assert job.name.count("optimizer=") == 1 and "sgd" not in job.name and job.name.count("batch_size=") == 1
        lrs.append(config["optimizer"]["lr"])
    assert sorted(lrs) == pytest.approx([0.01, 0.05, 0.09])
    assert len(study(workdir).trials) == 3


def test_an_unknown_sampler_or_pruner_is_refused_before_any_trial(workdir):
    for option, names in (("sampler=grdi", "tpe, random, grid, cmaes, qmc, nsga2"),
                          ("pruner=hyperbnd", "median, percentile, successive_halving, hyperband, none")):
        result = run_cli(*SEARCH, f"hydra.sweeper.{option}", cwd=workdir)
        assert result.returncode == 2, result.output
        assert f"hydra.sweeper.{option} is not one of" in result.stderr and names in result.stderr
        assert "Traceback" not in result.output
    assert not (workdir / "outputs").exists(), "no study, no sweep folder"
    misspelled = run_cli(*SEARCH, "hydra.sweeper.n_trails=3", cwd=workdir)
    assert misspelled.returncode == 2 and "hydra.sweeper.n_trails" in misspelled.stderr, misspelled.output


def test_two_objectives_give_a_pareto_front_without_pruning(workdir):
    result = run_cli(*SEARCH, "hydra.sweeper.n_trials=3", "hydra.sweeper.metric=[val/loss,test/mae]",
                     "hydra.sweeper.direction=[minimize,minimize]", cwd=workdir)
    assert result.returncode == 0, result.output
    assert result.output.count("2 objectives: no pruning") == 1
    (sweep,) = sweep_dirs(workdir)
    best = yaml.safe_load((sweep / "optuna_best.yaml").read_text())
    assert best["metrics"] == ["val/loss", "test/mae"] and best["directions"] == ["minimize", "minimize"]
    the_study = study(workdir)
    assert [t.number for t in the_study.best_trials] == sorted(p["trial"] for p in best["pareto_front"])
    for point in best["pareto_front"]:
        metrics = read_metrics(Path(point["run_dir"]))
        assert point["values"] == {"val/loss": metrics["best_score"], "test/mae": metrics["test/mae"]}
    assert "Pareto front (minimize val/loss and minimize test/mae)" in result.stdout
    assert best["plots"] == ["optuna_pareto_front.png"]
    for job in jobs(sweep):
        assert "optuna_trial" not in yaml.safe_load((job / ".hydra" / "config.yaml").read_text())


def test_failed_trials_stop_the_search_past_the_failure_budget(workdir):
    # A negative learning rate fails its trial (the first value, checked before the sweep, is fine).
    bad = [*SEARCH, "optimizer=sgd", "data.batch_size=32", "optimizer.lr=choice(0.1,-1.0,0.2)",
           "hydra.sweeper.sampler=grid"]
    strict = run_cli(*bad, cwd=workdir)
    assert strict.returncode == 1, strict.output
    assert "trials this search ran failed" in strict.stderr
    assert "more than hydra.sweeper.max_failure_rate=0.0 allows: the search stopped" in strict.stderr
    states = [t.state.name for t in study(workdir).trials]
    assert states[-1] == "FAIL" and states.count("FAIL") == 1, states
    assert yaml.safe_load((sweep_dirs(workdir)[-1] / "optuna_best.yaml").read_text())["n_failed"] == 1

    lenient = run_cli(*bad, "hydra.sweeper.max_failure_rate=0.5", "hydra.sweeper.study_name=lenient", cwd=workdir)
    assert lenient.returncode == 1, lenient.output  # the summary's: a job failed
    assert "max_failure_rate" not in lenient.stderr
    # The summary says why the job failed, not only which.
    assert "optimizer.lr=-1.0; use a positive number" in lenient.stderr.split("job(s) of the sweep failed")[1]
    assert sorted(t.state.name for t in study(workdir, "lenient").trials) == ["COMPLETE", "COMPLETE", "FAIL"]
    summary = (sweep_dirs(workdir)[-1] / "summary.csv").read_text()
    assert summary.count(",failed,") == 1 and summary.count(",finished,") == 2


def test_sigint_in_a_trial_fails_it_in_the_study_and_the_search_continues(workdir):
    long = ["experiment=regression", "data.n_samples=2000", "data.batch_size=4", "trainer.max_epochs=50",
            "hparams_search=regression_optuna", "optimizer=sgd", "hydra.sweeper.n_trials=2"]
    # SIGINT as a terminal's Ctrl-C sends it (a shell starts background jobs with SIGINT ignored).
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "train", *long], cwd=workdir, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if list((workdir / "outputs").glob("regression/multirun/*/0_*/checkpoints/last.ckpt")):
                break
            time.sleep(0.05)
        for _ in range(5):  # a SIGINT landing in a finalizer is swallowed: a user presses Ctrl-C again
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=90)  # a loaded machine: a second Ctrl-C must not cut the first one's exit
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert [t.state.name for t in study(workdir).trials] == ["FAIL"], "not RUNNING for good"
    again = run_cli("train", *[a for a in long if not a.startswith(("trainer.", "data."))], *TINY,
                    "hydra.sweeper.n_trials=1", cwd=workdir)
    assert again.returncode == 0, again.output
    assert [t.state.name for t in study(workdir).trials] == ["FAIL", "COMPLETE"]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "expkit", "train", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_searches_of_one_new_study_one_runs_one_is_refused(workdir):
    args = [*SEARCH[1:], "trainer.max_epochs=4", "hydra.sweeper.n_trials=3"]
    procs = [start(args, workdir) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outputs
    refused = outputs[[p.returncode for p in procs].index(2)][1]
    assert "another search is running the Optuna study 'regression'" in refused and "Traceback" not in refused
    assert "damaged or foreign" not in refused
    # Three trials in all, each finished (the median pruner may stop the third).
    assert [t.state.name for t in study(workdir).trials] in (["COMPLETE"] * 3, ["COMPLETE"] * 2 + ["PRUNED"])
    assert len(sweep_dirs(workdir)) == 1


def test_two_sweeps_into_one_folder_one_runs_one_is_refused(workdir):
    folder = workdir / "sweep"
    args = ["-m", *TINY, "trainer.max_epochs=3", "optimizer.lr=0.05,0.1", f"hydra.sweep.dir={folder}"]
    procs = [start(args, workdir) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2], outputs
    refused = outputs[[p.returncode for p in procs].index(2)][1]
    assert f"another sweep process is running in {folder}" in refused
    assert [read_metrics(j)["status"] for j in jobs(folder)] == ["finished", "finished"]
    assert all(read_metrics(j).get("lineage") is None for j in jobs(folder)), "each job trained once"


@pytest.mark.parametrize("extra", [
    ["monitor.metric=val/loss,val/mae"],  # a `/` in a value: no nested folders
    ["optimizer.lr=0.05,0.1", "+notes=" + "x" * 300],  # over 255 bytes: shortened
    ["optimizer.lr=0.05,0.1", "hydra.sweep.subdir=lr${optimizer.lr}"],  # a subdir of the user's own
], ids=["slash", "long", "subdir"])
def test_any_value_and_any_subdir_keep_job_folders_valid_and_continuable(extra, workdir):
    sweep = workdir / "sweep"
    first = run_cli("train", "-m", *TINY, *extra, f"hydra.sweep.dir={sweep}", cwd=workdir)
    assert first.returncode == 0, first.output
    folders = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(len(p.name.encode()) <= 255 for p in folders), folders
    assert all(read_metrics(p)["status"] == "finished" for p in folders)
    written = {p: (p / "metrics.json").stat().st_mtime_ns for p in folders}
    again = run_cli("train", "-m", *TINY, *extra, f"hydra.sweep.dir={sweep}", cwd=workdir)
    assert again.returncode == 0, again.output
    assert again.output.count("already finished: skipped") == 2
    assert {p: (p / "metrics.json").stat().st_mtime_ns for p in folders} == written
    names = [p.name for p in folders]
    if "monitor" in extra[0]:
        assert names[0].startswith("0_") and "monitor.metric=val%2Floss" in names[0]
        assert names[1].startswith("1_") and "monitor.metric=val%2Fmae" in names[1]
    elif "subdir" in extra[-1]:
        assert names == ["lr0.05", "lr0.1"]
    else:
        assert all("~" in n for n in names) and len(set(names)) == 2
