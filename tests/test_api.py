"""The Python API in-process: the same contracts the CLI tests check, without a subprocess each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import expkit
from expkit.errors import ConfigError, ExpkitError
from expkit.run.folder import RunFolder

REGRESSION = ["experiment=regression", "trainer.max_epochs=3", "callbacks.progress_bar=null"]


@pytest.fixture
def out(tmp_path: Path) -> list[str]:
    return [f"paths.output_root={tmp_path / 'outputs'}", f"paths.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api")
    cfg = expkit.compose([*REGRESSION, f"paths.output_root={root / 'outputs'}"])
    return expkit.fit(cfg, overrides=REGRESSION)


@pytest.mark.slow
def test_fit_writes_a_complete_run_folder(regression_run):
    result = regression_run
    assert result.status == "finished"
    folder = RunFolder(result.run_dir)
    for name in (RunFolder.METRICS, RunFolder.SNAPSHOT, RunFolder.RESOLVED, RunFolder.OVERRIDES,
                 RunFolder.ENVIRONMENT, RunFolder.LOG, RunFolder.LAST_CHECKPOINT):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / RunFolder.METRICS).read_text())
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 3
    assert metrics["test/loss"] == pytest.approx(result.metrics["test/loss"])
    assert folder.read_overrides() == REGRESSION
    assert "Run folder" in (folder / RunFolder.LOG).read_text()


@pytest.mark.slow
def test_load_run_evaluates_and_predicts(regression_run):
    run = expkit.load_run(regression_run.run_dir)
    metrics = run.evaluate(progress=False)
    assert metrics["test/loss"] == pytest.approx(regression_run.metrics["test/loss"], rel=1e-5)
    (pred,) = run.predict(["0.5"])
    # y = 0.7 x + 0.3 after three epochs of SGD: close, not exact.
    assert pred["prediction"] == pytest.approx(0.65, abs=0.05)
    with pytest.raises(ExpkitError, match="feature"):
        run.predict(["0.1,0.2"])


@pytest.mark.slow
def test_export_and_load_export_predict_the_same(regression_run, tmp_path):
    config = expkit.export(regression_run.run_dir, tmp_path / "export")
    assert config["task_type"] == "regression"
    assert oct((tmp_path / "export" / "model.safetensors").stat().st_mode & 0o777) == "0o644"
    from_run = expkit.load_run(regression_run.run_dir).predict(["0.25", "0.75"])
    from_export = expkit.load_export(tmp_path / "export").predict(["0.25", "0.75"])
    assert from_run == from_export
    with pytest.raises(ExpkitError, match="not empty"):
        expkit.export(regression_run.run_dir, tmp_path / "export")


@pytest.mark.slow
def test_reproduce_is_exact_and_records_lineage(regression_run):
    result = expkit.reproduce(regression_run.run_dir)
    assert result.run_dir != regression_run.run_dir
    for key in ("test/loss", "val/loss"):
        assert result.metrics[key] == regression_run.metrics[key]
    source = RunFolder(result.run_dir).read_metrics()["source"]
    assert source["command"] == "reproduce" and Path(source["run_dir"]) == regression_run.run_dir.resolve()


def test_choosing_other_data_drops_the_default_experiment():
    cfg = expkit.compose(["data=regression", "model=linear", "task=regression"])
    assert cfg.name == "regression"
    assert "ngrams" not in cfg.data and cfg.data.batch_size == 32
    assert cfg.monitor.metric == "val/loss"
    # Choosing only a model keeps the default experiment (same workload, another network), and
    # none of the experiment's network's keys (token_weights) reach the other network.
    for model in ("mean_mlp", "lstm"):
        cfg = expkit.compose([f"model={model}"])
        assert cfg.name == "dbpedia_sample" and cfg.data.ngrams == 2
        assert "token_weights" not in cfg.model
        expkit.api.validate(cfg)
    assert expkit.compose([]).model.token_weights is True


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trainer.max_epochs=abc"], "trainer.max_epochs=abc` is not a whole number"),
        (["+trainer.max_epoch=3"], "Did you mean `trainer.max_epochs`"),
        (["optimizer.lr=???"], "`optimizer.lr` has no value"),
        (["optimizer.lr=-1"], "use a positive number"),
        (["trainer.max_epochs=-1"], "train until you stop it"),
        (["task=regression", "data=dbpedia_sample", "model=embedding_bag"], "the task is regression"),
        (["model=linear"], "takes 'features' batches"),
        (["data.batch_size=0"], "data.batch_size"),
        (["model.embed_dim=big"], "model.embed_dim=big"),
        (["+model.nonsense=1"], "model.nonsense` is not an argument"),
        (["data=nosuch"], "Could not find 'data/nosuch'"),
        (["experiment=regression", "name=../../elsewhere"], "name='../../elsewhere' is not a folder name"),
        (["experiment=regression", "name="], "name='' is not a folder name"),
        (["experiment=regression", "seed=-1"], "seed=-1; use a whole number from 0 to 4294967295"),
        (["experiment=regression", "seed=abc"], "seed=abc; use a whole number"),
        (["experiment=regression", "test_after_fit=maybe"], "test_after_fit=maybe; use true or false"),
        (["experiment=regression", "monitor.metric=val/los"], "Did you mean `val/loss`?"),
        (["experiment=regression", "optimizer.weight_decay=-1"], "torch.optim.SGD refuses these values"),
        (["experiment=regression", "scheduler=step", "scheduler.step_size=0"], "StepLR refuses these values"),
        (["experiment=regression", "trainer.devices=0"], "could not build `trainer`"),
        (["experiment=regression", "data.n_samples=1"], "the val and test splits are empty"),
        (["data.train_path=/no/such/file.csv"], "Data file /no/such/file.csv does not exist"),
        (["torch_threads=0"], "command line `torch_threads=0`: torch_threads=0; use a whole number >= 1"),
        (["torch_threads=two"], "torch_threads=two; use a whole number >= 1"),
        (["torch_threads=1.5"], "torch_threads=1.5; use a whole number >= 1"),
        (["torch_threads=true"], "torch_threads=True; use a whole number >= 1"),
    ],
)
def test_bad_configs_are_refused_before_anything_is_written(tmp_path, out, overrides, message):
    with pytest.raises(ExpkitError, match=message.replace("(", r"\(").replace("`", "`")) as err:
        cfg = expkit.compose([*overrides, *out])
        expkit.fit(cfg)
    assert "\n" not in str(err.value).strip()
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_torch_threads_apply_while_training_and_evaluating_then_are_put_back(tmp_path):
    import pytorch_lightning as pl

    class Seen(pl.Callback):
        threads: list[int] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.threads.append(torch.get_num_threads())

    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1  # differs from the current count, so the test can fail
    overrides = [*REGRESSION, "trainer.max_epochs=1", "logger=none", f"torch_threads={wanted}",
                 f"paths.output_root={tmp_path / 'outputs'}"]
    result = expkit.fit(expkit.compose(overrides), extra_callbacks=[Seen()])
    assert Seen.threads == [wanted]
    assert torch.get_num_threads() == before
    run = expkit.load_run(result.run_dir)
    run.task.on_test_start = lambda: Seen.threads.append(torch.get_num_threads())
    run.evaluate(progress=False)  # with the run's own setting
    assert Seen.threads == [wanted, wanted]
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_error_names_the_experiment_file_a_key_came_from(out):
    cfg = expkit.compose(["data.ngrams=7", *out])  # the default experiment sets data.ngrams too
    with pytest.raises(ConfigError, match="data.ngrams=7"):
        expkit.fit(cfg)
    cfg = expkit.compose(["experiment=regression", "optimizer.lr=abc", *out])
    with pytest.raises(ConfigError, match=r"command line `optimizer.lr=abc`"):
        expkit.fit(cfg)


# -- the component contract ----------------------------------------------------------------------
def _contract_cfg(data_target: str, model_target: str, out: list[str]):
    from omegaconf import open_dict

    cfg = expkit.compose(["experiment=regression", *out])
    with open_dict(cfg):
        cfg.data = {"_target_": data_target}
        cfg.model = {"_target_": model_target, "_partial_": True}
    return cfg


class FeaturesNet(nn.Module):
    input_format = "features"

    def __init__(self, in_features: int, width: int) -> None:  # `width` has no default and no source
        super().__init__()
        self.layer = nn.Linear(in_features, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class LabelsOnly:
    """A data module that forgot the contract's class attributes."""

    def setup(self, stage=None) -> None:
        pass


@pytest.mark.slow
def test_contract_names_what_is_missing_and_how_to_add_it(out):
    cfg = _contract_cfg(f"{__name__}.LabelsOnly", "expkit.models.regression.LinearRegressor", out)
    with pytest.raises(ConfigError, match=r"lacks task_type, input_formats.*Subclass expkit.data.base.DataModule"):
        expkit.fit(cfg)
    cfg = _contract_cfg("expkit.data.regression.RegressionDataModule", f"{__name__}.FeaturesNet", out)
    with pytest.raises(ConfigError, match=r"needs width, which neither its config nor the data module"):
        expkit.fit(cfg)


@pytest.mark.slow
def test_classification_task_needs_facts_the_data_does_not_give(out):
    from omegaconf import open_dict

    cfg = expkit.compose(["experiment=regression", *out])
    with open_dict(cfg):
        cfg.task = {"_target_": "expkit.tasks.classification.ClassificationTask", "_partial_": True}
    with pytest.raises(ConfigError, match="the task is classification"):
        expkit.fit(cfg)


def test_models_receive_only_the_sizes_they_accept():
    from expkit.contract import model_arguments
    from expkit.data.text import TextClassificationDataModule
    from expkit.models.text import EmbeddingBagClassifier, LSTMClassifier

    class Fake:
        model_dims_keys = TextClassificationDataModule.model_dims_keys

        def model_dims(self):
            return {"vocab_size": 10, "num_classes": 3, "padding_idx": 1}

    assert model_arguments(Fake(), EmbeddingBagClassifier) == {"vocab_size": 10, "num_classes": 3}
    assert model_arguments(Fake(), LSTMClassifier) == {"vocab_size": 10, "num_classes": 3, "padding_idx": 1}


# -- misuse from Python: one ExpkitError saying what to pass, never a TypeError from deep inside ----
@pytest.mark.parametrize("call, message", [
    (lambda: expkit.compose("experiment=regression"), "overrides must be a list of strings"),
    (lambda: expkit.compose([1]), "overrides must be strings"),
    (lambda: expkit.fit("experiment=regression"), "cfg must be the config `expkit.compose"),
    (lambda: expkit.fit({"data": {}}), "cfg must be the config `expkit.compose"),
    (lambda: expkit.load_run(123), "A run folder is a path"),
    (lambda: expkit.resume(None), "A run folder is a path"),
])
def test_api_misuse_is_one_error(call, message):
    with pytest.raises(ExpkitError, match=message.replace("(", r"\(")):
        call()


@pytest.mark.slow
def test_loaded_run_misuse_is_one_error(regression_run):
    run = expkit.load_run(regression_run.run_dir)
    with pytest.raises(ExpkitError, match=r"give a list of inputs"):
        run.predict("0.5")  # a string would be read character by character
    with pytest.raises(ExpkitError, match=r"top_k=0"):
        run.predict(["0.5"], top_k=0)
    with pytest.raises(ExpkitError, match=r"--device nope"):
        run.evaluate(device="nope")
    with pytest.raises(ExpkitError, match="overrides must be a list"):
        expkit.load_run(regression_run.run_dir, overrides="data.batch_size=4")


@pytest.mark.slow
def test_ctrl_c_while_the_data_is_read_leaves_no_folder(tmp_path, monkeypatch):
    from expkit.data.regression import RegressionDataModule

    def interrupted(self, stage=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(RegressionDataModule, "setup", interrupted)
    cfg = expkit.compose([*REGRESSION, f"paths.output_root={tmp_path / 'outputs'}"])
    with pytest.raises(KeyboardInterrupt):
        expkit.fit(cfg)
    assert not (tmp_path / "outputs").exists()
