"""Sweeps, TensorBoard hparams, reproduce and resume, through the real CLI."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import read_metrics, read_scalars, run_cli

FAST = ["experiment=regression", "data.n_samples=400", "trainer.max_epochs=3"]


def sweep_dirs(cwd: Path, experiment: str = "regression") -> list[Path]:
    root = cwd / "outputs" / experiment / "multirun"
    return sorted(root.iterdir()) if root.is_dir() else []


@pytest.mark.slow
def test_basic_sweep_2x2_writes_four_runs_and_a_summary(workdir):
    result = run_cli("train", "-m", *FAST, "optimizer.lr=0.05,0.3", "data.noise=0,0.1", cwd=workdir)
    assert result.returncode == 0, result.output
    (sweep,) = sweep_dirs(workdir)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name.split("_", 1)[0] for j in jobs] == ["0", "1", "2", "3"]
    assert "optimizer.lr=0.05" in jobs[0].name and "data.noise=0" in jobs[0].name
    for job in jobs:
        assert read_metrics(job)["status"] == "finished"
        assert (job / "checkpoints" / "last.ckpt").is_file()
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    best = [float(r["best"]) for r in rows]
    assert best == sorted(best), "sorted by the monitored metric (val/loss, lower first)"
    assert (sweep / "summary.md").read_text().startswith("|")
    assert "Sweep summary" in result.stdout
    # A sweep job is a run like any other: it can be extended in place.
    extended = run_cli("resume", str(jobs[0]), "trainer.max_epochs=4", cwd=workdir)
    assert extended.returncode == 0, extended.output
    assert read_metrics(jobs[0])["epochs_done"] == 4


@pytest.mark.slow
def test_failed_job_is_listed_and_does_not_stop_the_others(workdir):
    result = run_cli("train", "-m", *FAST, "optimizer.lr=0.1,-1", cwd=workdir)
    assert result.returncode == 1
    (sweep,) = sweep_dirs(workdir)
    with open(sweep / "summary.csv") as f:
        statuses = sorted(r["status"] for r in csv.DictReader(f))
    assert statuses == ["failed", "finished"]
    assert "failed" in result.stderr


@pytest.mark.slow
def test_interrupted_sweep_continues_in_its_folder(workdir):
    # Job 0 finishes, job 1 fails (batch size 0), job 2 (400 steps an epoch) is stopped by SIGTERM
    # after its first checkpoint, which stops the sweep as a scheduler would.
    args = ["train", "-m", "experiment=regression", "data.n_samples=1000", "trainer.max_epochs=4",
            "data.batch_size=500,0,2"]
    proc = subprocess.Popen([sys.executable, "-m", "expkit", *args], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if list((workdir / "outputs").glob("regression/multirun/*/2_*/checkpoints/last.ckpt")):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-3000:]
    (sweep,) = sweep_dirs(workdir)
    done, failed, cut = sorted((p for p in sweep.iterdir() if p.is_dir()), key=lambda p: p.name)
    assert [read_metrics(p)["status"] for p in (done, failed, cut)] == ["finished", "failed", "interrupted"]
    stopped = read_metrics(cut)
    assert 1 <= stopped["epochs_done"] < 4
    untouched = {p: p.stat().st_mtime_ns for p in done.rglob("*")}

    # The interrupted sweep printed the command that continues it; `expkit resume SWEEP` prints it too.
    (hint,) = [line for line in err.splitlines() if line.startswith("Continue the whole sweep")]
    command = hint.split(": ", 1)[1]
    assert shlex.split(command) == ["expkit", *args, f"hydra.sweep.dir={sweep.relative_to(workdir)}"]
    asked = run_cli("resume", str(sweep.relative_to(workdir)), cwd=workdir)
    assert asked.returncode == 2 and command in asked.stderr, asked.output

    again = run_cli(*shlex.split(command)[1:], cwd=workdir)
    assert again.returncode == 1, again.output  # job 1 fails again
    assert "already finished: skipped" in again.output
    assert {p: p.stat().st_mtime_ns for p in done.rglob("*")} == untouched, "the finished job was not touched"
    assert sweep_dirs(workdir) == [sweep], "no new sweep folder"

    resumed = read_metrics(cut)
    assert resumed["status"] == "finished" and resumed["epochs_done"] == 4
    assert resumed["lineage"][-1]["command"] == "resume"
    assert resumed["lineage"][-1]["checkpoint"] == "checkpoints/last.ckpt"
    assert resumed["started"] == stopped["started"] and resumed["wall_time_s"] > stopped["wall_time_s"]
    # Continued from its checkpoint, not from step 0: the environment of the resume is recorded
    # at the checkpoint's step, and each epoch's validation is logged once.
    (env,) = cut.glob("environment.resumed-*.json")
    assert 0 < int(env.stem.rsplit("-", 1)[1]) < resumed["global_step"] == 4 * 400
    val_steps = [step for step, _ in read_scalars(cut)["val/loss"]]
    assert len(val_steps) == len(set(val_steps)) == 4

    rerun = read_metrics(failed)
    assert rerun["status"] == "failed" and rerun["lineage"][-1]["command"] == "rerun"
    assert "batch_size=0" in rerun["lineage"][-1]["previous_error"]
    assert (failed / "train.log").read_text().count("Job failed") == 2, "ran again"

    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["status"] for r in rows) == ["failed", "finished", "finished"]

    # Other values for job 1 are another sweep: refused before anything runs.
    changed = run_cli(*args[:-1], "data.batch_size=500,7,2", f"hydra.sweep.dir={sweep}", cwd=workdir)
    assert changed.returncode == 2 and "the sweep arguments changed" in changed.stderr, changed.output
    assert read_metrics(failed) == rerun


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_in_parallel(workdir):
    result = run_cli("train", "-m", *FAST, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "optimizer.lr=0.05,0.3", "data.num_workers=2", cwd=workdir)
    assert result.returncode == 0, result.output
    (sweep,) = sweep_dirs(workdir)
    jobs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(jobs) == 2
    pids = {read_metrics(j)["pid"] for j in jobs}
    assert len(pids) == 2 and os.getpid() not in pids, "each job ran in its own worker process"
    for job in jobs:
        assert yaml.safe_load((job / ".hydra" / "resolved.yaml").read_text())["data"]["num_workers"] == 0
    assert (sweep / "summary.csv").is_file()


@pytest.mark.slow
def test_dbpedia_search_space_composes(workdir):
    result = run_cli("train", "hparams_search=dbpedia_optuna", "--cfg", "hydra", cwd=workdir)
    assert result.returncode == 0, result.output
    params = yaml.safe_load(result.stdout)["hydra"]["sweeper"]["params"]
    for key in params:  # every searched key exists in the default experiment's config
        check = run_cli("train", f"{key}=1", "--cfg", "job", cwd=workdir) if key != "optimizer.lr" else None
        assert check is None or "not in struct" not in check.output, key


@pytest.mark.slow
def test_optuna_search_three_trials_continues_where_it_stopped(workdir):
    import optuna

    from expkit.run.study import open_storage

    args = ["train", "experiment=regression", "hparams_search=regression_optuna", "data.n_samples=200",
            "trainer.max_epochs=2"]
    result = run_cli(*args, "hydra.sweeper.n_trials=3", cwd=workdir)
    assert result.returncode == 0, result.output
    (sweep,) = sweep_dirs(workdir)
    best = yaml.safe_load((sweep / "optuna_best.yaml").read_text())
    assert best["metric"] == "val/loss" and best["direction"] == "minimize"
    assert best["n_trials"] == 3 and set(best["best_params"]) == {"optimizer", "optimizer.lr", "data.batch_size"}
    db = workdir / "outputs" / "regression" / "optuna" / "regression.journal"
    assert db.is_file()

    # Folder names round the sampled floats; the job's overrides keep every digit.
    study = optuna.load_study(study_name="regression", storage=open_storage(str(db)))
    for trial in study.trials:
        job = Path(trial.user_attrs["run_dir"])
        assert job.parent == sweep and job.name.startswith(f"{trial.number}_")
        lr = trial.params["optimizer.lr"]
        assert f"optimizer.lr={lr:.4g}," in job.name and f"optimizer.lr={lr}," not in job.name
        assert f"optimizer.lr={lr}" in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        # Optuna was told the value the summary ranks by: the best checkpoint's val/loss (a pruned
        # trial, stopped by the median of the others, has no value).
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert trial.value == read_metrics(job)["best_score"]
        else:
            assert trial.state == optuna.trial.TrialState.PRUNED and read_metrics(job)["status"] == "pruned"

    # The summary names the best trial with its exact parameters; Optuna's plots are PNG files.
    assert best["best_value"] == min(t.value for t in study.trials)
    assert Path(best["best_run_dir"]) == Path(study.best_trial.user_attrs["run_dir"])
    lr_text = f"optimizer.lr={best['best_params']['optimizer.lr']}"
    assert f"Best trial {best['best_trial']}: val/loss" in result.stdout and lr_text in result.stdout
    assert lr_text in (sweep / "summary.md").read_text()
    assert best["plots"] == ["optuna_parallel_coordinate.png", "optuna_param_importances.png"]
    for name in best["plots"]:
        assert (sweep / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Asking for 4 trials in all runs only the missing one, with new values.
    again = run_cli(*args, "hydra.sweeper.n_trials=4", cwd=workdir)
    assert again.returncode == 0, again.output
    newest = sweep_dirs(workdir)[-1]
    # Its folder is numbered by its trial, after the three before it.
    assert [p.name[:2] for p in newest.iterdir() if p.is_dir()] == ["3_"]
    assert yaml.safe_load((newest / "optuna_best.yaml").read_text())["n_trials"] == 4
    trials = optuna.load_study(study_name="regression", storage=open_storage(str(db))).trials
    assert trials[3].params not in [t.params for t in trials[:3]]

    # A finished study says so in one line and writes nothing.
    folders, db_written = sweep_dirs(workdir), db.stat().st_mtime_ns
    done = run_cli(*args, "hydra.sweeper.n_trials=4", cwd=workdir)
    assert done.returncode == 0, done.output
    assert "already has 4 of 4 trials" in done.stdout and len(done.output.strip().splitlines()) == 1, done.output
    assert sweep_dirs(workdir) == folders and db.stat().st_mtime_ns == db_written


def test_optuna_is_told_the_best_checkpoint_value_not_the_last_epoch():
    import optuna
    from hydra.core.utils import JobReturn, JobStatus
    from hydra_plugins.expkit_optuna_sweeper.sweeper import ExpkitOptunaSweeper

    study = optuna.create_study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    metrics = {"status": "finished", "monitor": "val/loss", "best_score": 0.1, "val/loss": 0.5}
    ExpkitOptunaSweeper._tell(study, trial, JobReturn(status=JobStatus.COMPLETED, _return_value=metrics))
    assert study.trials[0].value == 0.1


def test_optuna_plots_need_matplotlib_and_importances_two_trials(tmp_path, monkeypatch):
    import optuna
    from hydra_plugins.expkit_optuna_sweeper.sweeper import write_plots

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=1)
    assert write_plots(study, tmp_path, "val/loss") == ["optuna_parallel_coordinate.png"]
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=2)
    assert write_plots(study, tmp_path, "val/loss") == ["optuna_parallel_coordinate.png", "optuna_param_importances.png"]
    # A plot that fails (here: an unwritable folder) is left out; the search's results are not lost.
    assert write_plots(study, tmp_path / "missing" / "folder", "val/loss") == []
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert write_plots(study, tmp_path / "none", "val/loss") == []


def tensorboard_hparams(run_dir: Path) -> tuple[dict, set[str], object, list[str]]:
    """(session hparams, experiment metric tags, accumulator, the columns marked as differing) of
    a run, read as TensorBoard reads them; the experiment lists the session's columns, headline keys first."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    columns = [h.name for h in experiment.hparam_infos]
    assert set(columns) == set(session.session_start_info.hparams) and columns[: len(HEADLINE)] == list(HEADLINE)
    differing = [h.name for h in experiment.hparam_infos if h.differs]
    return dict(session.session_start_info.hparams), [m.name.tag for m in experiment.metric_infos], acc, differing


def trial_name(acc) -> str:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    return plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.group_name


HEADLINE = ("model", "optimizer", "optimizer.lr", "data.batch_size", "seed", "trainer.max_epochs")


@pytest.mark.slow
def test_tensorboard_shows_what_was_swept(workdir):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.custom_scalar import layout_pb2

    tiny = ["experiment=regression", "trainer.max_epochs=2", "data.n_samples=200", "data.batch_size=32",
            "trainer.log_every_n_steps=1"]
    single = run_cli("train", *tiny, "optimizer=adam", cwd=workdir)
    assert single.returncode == 0, single.output
    sweep = run_cli("train", "-m", *tiny, "optimizer.lr=0.1,0.2", cwd=workdir)
    assert sweep.returncode == 0, sweep.output
    (run_dir,) = single.run_dirs()
    (sweep_dir,) = sweep_dirs(workdir)
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())

    # `tensorboard --logdir outputs` names runs by their folder: <experiment>/<timestamp> and the job folders.
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(workdir / "outputs"))
    assert set(multiplexer.Runs()) == {f"regression/{run_dir.name}", *(f"regression/multirun/{sweep_dir.name}/{j.name}" for j in jobs)}
    assert [j.name for j in jobs] == [f"{n}_data.batch_size=32,data.n_samples=200,optimizer.lr={lr},"
                                      "trainer.log_every_n_steps=1,trainer.max_epochs=2" for n, lr in ((0, 0.1), (1, 0.2))]

    # HPARAMS: the headline keys and the run's overrides (a sweep job's: the fixed ones and its swept value).
    overridden = {"data.n_samples", "trainer.log_every_n_steps"}
    for job, lr in zip(jobs, (0.1, 0.2)):
        hparams, metric_tags, acc, differing = tensorboard_hparams(job)
        assert set(hparams) == set(HEADLINE) | overridden
        assert differing == ["optimizer.lr"], "the swept key is marked as varying: TensorBoard lists it first"
        # HPARAMS' Trial ID column shows the start of the name: the job's overrides come first.
        assert trial_name(acc) == f"{job.name} (regression/multirun/{sweep_dir.name})"
        assert hparams["optimizer.lr"].number_value == lr
        assert hparams["model"].string_value == "LinearRegressor" and hparams["optimizer"].string_value == "SGD"
        # Whole numbers as they are written (TensorBoard shows a number as 42.000).
        assert hparams["data.batch_size"].string_value == "32" and hparams["seed"].string_value == "42"
        # Metrics: final and best-checkpoint values; no learning rate, epoch or hp_metric. The
        # monitored metric's best value (what the sweep ranks by) is the first column.
        assert set(metric_tags) == {"train/loss", "val/loss", "val/mae", "test/loss", "test/mae", "best/val/loss", "best/val/mae"}
        assert metric_tags[0] == "best/val/loss"
        scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        assert [t for t in scalars if "lr" in t] == ["train/lr"]
        assert [v for _, v in scalars["train/lr"]] == pytest.approx([lr, lr])
        assert not {"epoch", "hp_metric"} & set(scalars)
        # best/val/loss is the lowest val/loss, at its step; the loss curves also head Time Series as Loss/<split>.
        assert scalars["best/val/loss"] == [min(scalars["val/loss"], key=lambda p: p[1])]
        for split in ("train", "val", "test"):
            assert scalars[f"Loss/{split}"] == scalars[f"{split}/loss"]
        # The Custom Scalars tab's layout: one chart per metric family (train and val loss
        # together; MAE on a chart of its own), the best-checkpoint values, the learning rate.
        (layout_event,) = acc.Tensors("custom_scalars__config__")
        layout = layout_pb2.Layout.FromString(layout_event.tensor_proto.string_val[0])
        assert [c.title for c in layout.category] == ["Curves", "Best checkpoint (validation)", "Learning rate"]
        charts = {chart.title: chart.multiline.tag for chart in layout.category[0].chart}
        assert list(charts) == ["loss: train and val", "mae: val"]
        matched = {title: [t for t in scalars if any(re.match(rx, t) for rx in tags)] for title, tags in charts.items()}
        assert sorted(matched["loss: train and val"]) == ["train/loss", "val/loss"]
        assert matched["mae: val"] == ["val/mae"]

    hparams, _, acc, differing = tensorboard_hparams(run_dir)
    assert set(hparams) == set(HEADLINE) | overridden and hparams["optimizer"].string_value == "Adam"
    assert differing == [], "a single run varies nothing"
    # A single run: its start time first, so two runs of one day differ where the column is cut.
    assert trial_name(acc) == f"{run_dir.name[11:].replace('-', ':', 2)} regression trainer.max_epochs=2 data.n_samples=200 " \
        f"data.batch_size=32 trainer.log_every_n_steps=1 optimizer=adam ({run_dir.name})"
    assert hparams["optimizer.lr"].number_value == 0.5, "the experiment preset's lr, set after the optimizer group"
    # The whole resolved config stays in the TEXT tab.
    (config_text,) = acc.Tensors("config/text_summary")
    assert b"_target_: torch.optim.Adam" in config_text.tensor_proto.string_val[0]
    assert "val/predictions" in acc.Tags()["images"]
    assert not (run_dir / "hparams.yaml").exists(), "Lightning's own hparams file is not written"


@pytest.mark.slow
def test_environment_record(workdir):
    result = run_cli("train", *FAST, "trainer=debug", cwd=workdir)
    (run_dir,) = result.run_dirs()
    env = json.loads((run_dir / "environment.json").read_text())
    assert {"torch", "pytorch-lightning", "hydra-core", "omegaconf", "numpy"} <= set(env["packages"])
    assert env["python"] == sys.version.split()[0]
    assert "train" in env["command"]
    assert env["git"] is None or len(env["git"]["commit"]) == 40


@pytest.mark.slow
@pytest.mark.parametrize("experiment,extra", [
    ("regression", ["data.n_samples=400", "trainer.max_epochs=3"]),
    ("dbpedia_sample", ["trainer.max_epochs=1", "trainer.limit_train_batches=15", "paths.cache_dir=cache"]),
])
def test_reproduce_is_exact_on_cpu(workdir, experiment, extra):
    first = run_cli("train", f"experiment={experiment}", "deterministic=true", "trainer=cpu", *extra, cwd=workdir)
    assert first.returncode == 0, first.output
    (run_dir,) = first.run_dirs(experiment)
    # Today's conf/ may change after the run: reproduce must use the snapshot, not conf/.
    again = run_cli("reproduce", str(run_dir), "--check", cwd=workdir)
    assert again.returncode == 0, again.output
    assert "abs diff" in again.stdout
    runs = first.run_dirs(experiment)
    assert len(runs) == 2
    original, reproduced = read_metrics(runs[0]), read_metrics(runs[1])
    for key in original:
        if key.startswith(("val/", "test/", "train/")):
            assert original[key] == reproduced[key], key


@pytest.mark.slow
def test_reproduce_check_fails_when_metrics_differ(workdir):
    first = run_cli("train", *FAST, cwd=workdir)
    (run_dir,) = first.run_dirs()
    again = run_cli("reproduce", str(run_dir), "seed=1", "--check", cwd=workdir)
    assert again.returncode == 1
    assert "differ" in again.stdout


def _interrupt_after_first_epoch(cwd: Path, args: list[str]) -> Path:
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "train", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    metrics_files: list[Path] = []
    while time.time() < deadline:
        metrics_files = list((cwd / "outputs").glob("*/*/metrics.json"))
        # Lightning saves checkpoints after the other end-of-epoch hooks: wait for last.ckpt too.
        if (
            metrics_files
            and json.loads(metrics_files[0].read_text() or "{}").get("epochs_done", 0) >= 1
            and (metrics_files[0].parent / "checkpoints" / "last.ckpt").is_file()
        ):
            break
        time.sleep(0.05)
    # A SIGINT that lands while Python runs a finalizer (__del__) is printed and swallowed, which
    # a real user would answer with a second Ctrl+C; so do that. Lightning ignores SIGINT once it
    # has started its graceful shutdown, so repeats cannot cut the shutdown short.
    for _ in range(20):
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=3)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=60)
    return metrics_files[0].parent


@pytest.mark.slow
def test_resume_after_interrupt_matches_an_uninterrupted_run(tmp_path):
    # Slow epochs (many small batches) so the interrupt lands mid-training.
    args = ["experiment=regression", "deterministic=true", "trainer=cpu", "data.n_samples=20000",
            "data.batch_size=8", "trainer.max_epochs=4", "trainer.log_every_n_steps=50"]
    full_dir = tmp_path / "full"
    full_dir.mkdir()
    full = run_cli("train", *args, cwd=full_dir)
    assert full.returncode == 0, full.output
    (full_run,) = full.run_dirs()

    cut_dir = tmp_path / "cut"
    cut_dir.mkdir()
    run_dir = _interrupt_after_first_epoch(cut_dir, args)
    interrupted = read_metrics(run_dir)
    assert interrupted["status"] == "interrupted", interrupted
    assert interrupted["epochs_done"] < 4
    resumed = run_cli("resume", str(run_dir), cwd=cut_dir)
    assert resumed.returncode == 0, resumed.output
    assert len(list((cut_dir / "outputs" / "regression").iterdir())) == 1, "resumed in the same folder"

    a, b = read_metrics(full_run), read_metrics(run_dir)
    assert b["status"] == "finished" and b["epochs_done"] == 4
    for key in ("train/loss", "val/loss", "val/mae", "test/loss", "test/mae", "best_score"):
        assert a[key] == b[key], key
    sa, sb = read_scalars(full_run), read_scalars(run_dir)
    for tag in ("train/loss", "val/loss"):
        steps_a = [s for s, _ in sa[tag]]
        steps_b = [s for s, _ in sb[tag]]
        assert steps_b == steps_a, f"{tag}: no duplicated or missing steps"
        assert [v for _, v in sb[tag]] == pytest.approx([v for _, v in sa[tag]], rel=1e-6)


@pytest.mark.slow
def test_resume_extends_a_finished_run(workdir):
    first = run_cli("train", *FAST, cwd=workdir)
    (run_dir,) = first.run_dirs()
    # All its epochs are done: a resume without a new total would train nothing, test again and
    # log a second HPARAMS session; refused, with the metrics untouched.
    before = (run_dir / "metrics.json").read_bytes()
    nothing = run_cli("resume", str(run_dir), cwd=workdir)
    assert nothing.returncode == 2 and "Traceback" not in nothing.output, nothing.output
    assert "already finished its 3 epochs (trainer.max_epochs=3)" in nothing.stderr
    assert (run_dir / "metrics.json").read_bytes() == before
    extended = run_cli("resume", str(run_dir), "trainer.max_epochs=5", cwd=workdir)
    assert extended.returncode == 0, extended.output
    metrics = read_metrics(run_dir)
    assert metrics["epochs_done"] == 5 and metrics["status"] == "finished"
    assert len(read_scalars(run_dir)["val/loss"]) == 5
    assert "trainer.max_epochs=5" in (run_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_resume_refuses_a_folder_that_is_not_a_run(workdir):
    result = run_cli("resume", str(workdir), cwd=workdir)
    assert result.returncode == 2
    assert "not an expkit run folder" in result.stderr and "Traceback" not in result.output


@pytest.mark.slow
def test_sweep_into_a_folder_of_other_runs_is_refused(workdir, tmp_path, capsys):
    from expkit.runs.sweep import is_sweep_folder, refuse_non_sweep_folder

    # A single run's folder as hydra.sweep.dir: its jobs would be written inside it, and the
    # summary (every run under the folder) would list only the single run.
    run = workdir / "outputs" / "regression" / "2026-01-01_00-00-00"
    (run / ".hydra").mkdir(parents=True)
    (run / "metrics.json").write_text('{"status": "finished"}')
    before = sorted(p.name for p in run.iterdir())
    result = run_cli("train", "-m", *FAST, "optimizer.lr=0.01,0.02", f"hydra.sweep.dir={run}", cwd=workdir)
    assert result.returncode == 2, result.output
    assert "is not a sweep folder: it is itself a run folder" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in run.iterdir()) == before, "no multirun.yaml or job folder written into it"

    # A file: said as such, left as it is.
    afile = workdir / "afile"
    afile.write_text("mine")
    result = run_cli("train", "-m", *FAST, "optimizer.lr=0.01,0.02", f"hydra.sweep.dir={afile}", cwd=workdir)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert f"hydra.sweep.dir={afile} is a file" in result.stderr and afile.read_text() == "mine"

    # outputs/ (runs of other experiments under it) is refused; a sweep folder, a new or an empty one is not.
    with pytest.raises(SystemExit) as exit_:
        refuse_non_sweep_folder(workdir / "outputs")
    assert exit_.value.code == 2 and "which is not a job of a sweep" in capsys.readouterr().err
    sweep = tmp_path / "sweep"
    for job in ("0_optimizer.lr=0.01", "1"):
        (sweep / job).mkdir(parents=True)
        (sweep / job / "metrics.json").write_text('{"status": "finished"}')
    (tmp_path / "empty").mkdir()
    for ok in (sweep, tmp_path / "empty", tmp_path / "new"):
        refuse_non_sweep_folder(ok)

    # A sweep folder whose multirun.yaml was deleted is still a sweep to `expkit resume`, not
    # "not an expkit run folder".
    assert is_sweep_folder(sweep) and not is_sweep_folder(run) and not is_sweep_folder(workdir / "outputs")
    asked = run_cli("resume", str(sweep), cwd=workdir)
    assert asked.returncode == 2 and f"{sweep} is a sweep folder, not a run" in asked.stderr, asked.output


@pytest.mark.slow
def test_optuna_search_refuses_bad_trial_counts_damaged_and_foreign_studies(workdir):
    import optuna

    search = ["train", *FAST, "hparams_search=regression_optuna"]
    db = workdir / "outputs" / "regression" / "optuna" / "regression.db"
    none = run_cli(*search, "hydra.sweeper.n_trials=0", cwd=workdir)
    assert none.returncode == 2 and "hydra.sweeper.n_trials=0" in none.stderr, none.output
    assert not db.exists(), "no study made for zero trials"
    serial = run_cli(*search, "hydra.sweeper.n_jobs=-1", cwd=workdir)
    assert serial.returncode == 2 and "hydra.sweeper.n_jobs=-1: the number of trials launched together" in serial.stderr

    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database")
    damaged = run_cli(*search, "hydra.sweeper.n_trials=1", cwd=workdir)
    assert damaged.returncode == 2 and "Traceback" not in damaged.output, damaged.output
    assert f"storage sqlite:///{db}" in damaged.stderr and "file is not a database" in damaged.stderr
    assert db.read_bytes() == b"not a database"

    # A study made by a search that maximized: Optuna would load it with its own direction and
    # rank this search's val/loss values the wrong way round.
    db.unlink()
    optuna.create_study(study_name="regression", storage=f"sqlite:///{db}", direction="maximize")
    foreign = run_cli(*search, "hydra.sweeper.n_trials=1", cwd=workdir)
    assert foreign.returncode == 2, foreign.output
    assert "was made to maximize val/loss, but this search asks to minimize val/loss" in foreign.stderr
    assert not list((workdir / "outputs" / "regression").glob("multirun/*/0_*")), "no trial ran"
