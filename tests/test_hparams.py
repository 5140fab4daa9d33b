"""What HPARAMS holds (expkit.run.hparams), in-process."""

from __future__ import annotations

from omegaconf import OmegaConf

from expkit.run.folder import SWEEP_CONFIG
from expkit.run.hparams import HEADLINE, hparams_metrics, override_keys, run_hparams, swept_keys, sweep_overrides

CFG = OmegaConf.create({
    "seed": 7,
    "model": {"_target_": "expkit.models.text.EmbeddingBagClassifier", "_partial_": True, "embed_dim": 64},
    "optimizer": {"_target_": "expkit.optimizers.LazyAdam", "_partial_": True, "lr": 0.0945430681953},
    "scheduler": None,
    "data": {"batch_size": None, "ngrams": [1, 2], "noise": 0.1},
    "trainer": {"max_epochs": 3, "accelerator": "cpu"},
    "paths": {"output_root": "/somewhere/outputs"},
    "logger": {"tensorboard": {"_target_": "x.Logger", "save_dir": "/run"}},
})


def test_columns_are_headline_keys_then_the_runs_overrides():
    overrides = ["experiment=dbpedia_sample", "model.embed_dim=64", "+data.noise=0.1", "scheduler=none",
                 "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "paths.output_root=/somewhere/outputs",
                 "trainer=cpu", "logger=csv", "callbacks.progress_bar=null", "optuna_trial.number=3", "~data.ngrams",
                 "data.ngrams=[1,2]", "optimizer.lr=0.0945430681953"]
    assert override_keys(overrides) == ["model.embed_dim", "data.noise", "scheduler", "data.ngrams", "optimizer.lr"]
    params = run_hparams(CFG, overrides)
    assert list(params)[: len(HEADLINE)] == list(HEADLINE)
    assert params == {
        "model": "EmbeddingBagClassifier", "optimizer": "LazyAdam", "optimizer.lr": 0.0945430681953,
        "data.batch_size": "null", "seed": "7", "trainer.max_epochs": "3",  # whole numbers as written, not 7.000
        "model.embed_dim": "64", "data.noise": 0.1, "scheduler": "null", "data.ngrams": "[1, 2]",
    }
    assert run_hparams(CFG, []) == {k: params[k] for k in HEADLINE}, "a run without overrides: the headline keys"


def test_metric_columns_are_final_and_best_results_only():
    final = {"train/loss": 0.5, "val/loss": 0.4, "val/acc": 0.8, "test/acc": 0.79, "train/lr": 0.1, "lr-SGD": 0.1,
             "epoch": 3.0, "hp_metric": -1.0, "epochs_done": 3}
    best = {"val/loss": 0.3, "val/acc": 0.85}
    assert hparams_metrics(final, best) == {
        "test/acc": 0.79, "train/loss": 0.5, "val/acc": 0.8, "val/loss": 0.4, "best/val/acc": 0.85, "best/val/loss": 0.3,
    }
    # The column a sweep ranks by comes first, then the best checkpoint's others, the test metrics,
    # the rest, and the other experiments' metrics the run lacks (values read from their scalars).
    ordered = hparams_metrics(final, best, monitor="val/loss", others=["best/val/mae", "val/acc", "test/mae"])
    assert list(ordered) == ["best/val/loss", "best/val/acc", "test/acc", "train/loss", "val/acc", "val/loss",
                             "best/val/mae", "test/mae"]


def test_other_experiments_metric_names_and_trial_names(tmp_path):
    import json

    from expkit.run.hparams import other_metric_names, session_name

    out = tmp_path / "outputs"
    for name, metrics, monitor in (("digits", {"val/acc": 0.9, "test/acc": 0.8}, "val/acc"),
                                   ("regression", {"val/mae": 0.2, "train/loss": 0.1}, "val/loss")):
        run = out / name / "2026-12-06_04-10-00"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"status": "finished", "monitor": monitor, "monitor_mode": "max",
                                                      "epochs_done": 3, **metrics}))
    from expkit.training import _other_runs_metrics

    names = other_metric_names(_other_runs_metrics(out, out / "regression" / "2026-12-06_04-10-00"))
    assert names == ["best/val/acc", "test/acc", "val/acc"]
    assert other_metric_names(_other_runs_metrics(out, tmp_path))[:2] == ["best/val/acc", "best/val/loss"]
    assert other_metric_names([("val/loss", ["val/loss", "train/lr", "epoch"])]) == ["best/val/loss", "val/loss"]
    # Two single runs of one day differ in their first characters; a sweep job leads with its overrides.
    first = session_name(out / "digits" / "2026-12-06_04-10-00", out, ["experiment=digits", "trainer.max_epochs=3"])
    second = session_name(out / "digits" / "2026-12-06_04-12-31-2", out, ["experiment=digits"])
    assert first == "04:10:00 digits trainer.max_epochs=3 (2026-12-06_04-10-00)"
    assert second == "04:12:31-2 digits (2026-12-06_04-12-31-2)"
    job = out / "regression" / "multirun" / "2026-12-06_04-00-00" / "0_optimizer.lr=0.1"
    assert session_name(job, out) == "0_optimizer.lr=0.1 (regression/multirun/2026-12-06_04-00-00)"


def test_swept_keys_come_from_the_sweeps_record(tmp_path):
    """Hydra's multirun.yaml in the sweep folder: overrides with several values and the search space vary."""
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00"
    job = sweep / "0_model=linear,optimizer.lr=0.1"
    job.mkdir(parents=True)
    (sweep / SWEEP_CONFIG).write_text(
        "hydra:\n  overrides:\n    task: [experiment=regression, 'optimizer.lr=0.1,0.2', 'model=linear,mlp', trainer.max_epochs=3]\n"
        "  sweeper:\n    params: {data.batch_size: 'choice(16, 32)', seed: '7'}\n")
    assert swept_keys(sweep_overrides(job)) == ["optimizer.lr", "model", "data.batch_size"]
    params = run_hparams(CFG, ["optimizer.lr=0.1"], swept=["data.noise"])
    assert "data.noise" in params, "a swept key is a column even when the job's overrides do not name it"
    assert swept_keys(sweep_overrides(tmp_path / "single")) == [], "a single run varies nothing"
    assert swept_keys(["optimizer.lr=tag(log, interval(0.001, 0.5))", "+data.noise=range(0,3)", "seed=choice(1)",
                       "hydra/launcher=joblib,basic"]) == ["optimizer.lr", "data.noise"]
