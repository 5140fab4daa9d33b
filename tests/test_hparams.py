"""What HPARAMS holds (expkit.run.hparams) and how sweep job folders are named, in-process."""

from __future__ import annotations

from omegaconf import OmegaConf

from expkit.run.folder import RunFolder, round_floats
from expkit.run.hparams import HEADLINE, hparams_metrics, override_keys, run_hparams

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
        "data.batch_size": "null", "seed": 7, "trainer.max_epochs": 3,
        "model.embed_dim": 64, "data.noise": 0.1, "scheduler": "null", "data.ngrams": "[1, 2]",
    }
    assert run_hparams(CFG, []) == {k: params[k] for k in HEADLINE}, "a run without overrides: the headline keys"


def test_metric_columns_are_final_and_best_results_only():
    final = {"train/loss": 0.5, "val/loss": 0.4, "val/acc": 0.8, "test/acc": 0.79, "train/lr": 0.1, "lr-SGD": 0.1,
             "epoch": 3.0, "hp_metric": -1.0, "epochs_done": 3}
    best = {"val/loss": 0.3, "val/acc": 0.85}
    assert hparams_metrics(final, best) == {
        "test/acc": 0.79, "train/loss": 0.5, "val/acc": 0.8, "val/loss": 0.4, "best/val/acc": 0.85, "best/val/loss": 0.3,
    }


def test_sweep_job_folder_names_round_long_floats_only():
    assert RunFolder.job_dirname(3, "model.embed_dim=32,optimizer.lr=0.09454306819536169") == \
        "3_model.embed_dim=32,optimizer.lr=0.09454"
    assert round_floats("optimizer.lr=0.1,data.noise=0.00012,weight_decay=1.234567e-05,x=-2.7182818") == \
        "optimizer.lr=0.1,data.noise=0.00012,weight_decay=1.235e-05,x=-2.718"
    assert round_floats("layer1.123456=0.5,data.path=a/b.1234567") == "layer1.123456=0.5,data.path=a/b.1234567"
