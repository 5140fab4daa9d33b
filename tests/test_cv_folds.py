"""Cross-validation folds of the text data (data.cv_folds / data.cv_fold) and the bag ensemble option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from expkit.data.labelled import packaged_data_path, stratified_fold_split
from expkit.data.text import TextClassificationDataModule
from expkit.data.text_files import read_labeled_csv
from expkit.errors import ConfigError, DataError
from expkit.models.text import EmbeddingBagClassifier

from conftest import run_cli

SAMPLE = packaged_data_path("dbpedia_sample/sample.csv")
CLASSES = packaged_data_path("dbpedia_sample/classes.txt")


def sample_dm(tmp_path: Path, **kwargs) -> TextClassificationDataModule:
    dm = TextClassificationDataModule(train_path=SAMPLE, classes_path=CLASSES, cache_dir=str(tmp_path / "cache"), **kwargs)
    dm.setup("fit")
    return dm


def test_folds_cover_every_row_once_stratified_and_seeded():
    labels = np.repeat(np.arange(4), [50, 31, 12, 7])  # uneven classes
    folds = [stratified_fold_split(labels, 5, i, 0.1, seed=3) for i in range(5)]
    tests = [test for _, _, test in folds]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(labels)))  # each row tested exactly once
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    for train, val, test in folds:
        assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
        assert len(train) + len(val) + len(test) == len(labels)
        for c, n in enumerate([50, 31, 12, 7]):
            assert abs((labels[test] == c).sum() - n / 5) < 1  # each class in the fold's proportion, within a row
        assert len(val) == sum(round(((labels == c).sum() - (labels[test] == c).sum()) * 0.1) for c in range(4))
    again = stratified_fold_split(labels, 5, 2, 0.1, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, folds[2]))  # same keys, same rows
    other = stratified_fold_split(labels, 5, 2, 0.1, seed=4)
    assert not np.array_equal(other[2], folds[2][2])


def test_data_module_tests_on_the_chosen_fold(tmp_path):
    labels, _ = read_labeled_csv(SAMPLE, 14)
    dm = sample_dm(tmp_path, cv_folds=5, cv_fold=2, ngrams=2, min_freq=2)
    train, val, test = stratified_fold_split(labels, 5, 2, dm.val_fraction, dm.split_seed)
    assert {name: len(docs) for name, docs in dm.splits.items()} == {"train": len(train), "val": len(val), "test": 1000}
    for name, rows in zip(["train", "val", "test"], [train, val, test]):
        assert np.array_equal(dm.splits[name].labels, labels[rows])
    # The vocabulary still comes from the fold's train rows only: another fold's vocabulary differs.
    assert sample_dm(tmp_path, cv_folds=5, cv_fold=3, ngrams=2, min_freq=2).vocab != dm.vocab
    # Without the keys, the default 80/10/10 split is unchanged.
    assert {name: len(docs) for name, docs in sample_dm(tmp_path).splits.items()} == {"train": 4000, "val": 500, "test": 500}


@pytest.mark.parametrize(
    "keys, message",
    [
        (dict(cv_folds=5), "data.cv_folds is set but data.cv_fold is not"),
        (dict(cv_fold=1), "data.cv_fold is set but data.cv_folds is not"),
        (dict(cv_folds=1, cv_fold=0), r"data.cv_folds=1: use a whole number of folds >= 2"),
        (dict(cv_folds=True, cv_fold=0), r"data.cv_folds=True"),
        (dict(cv_folds="5", cv_fold=0), r"data.cv_folds='5'"),
        (dict(cv_folds=5, cv_fold=5), r"data.cv_fold=5: with data.cv_folds=5 use a fold number 0 to 4"),
        (dict(cv_folds=5, cv_fold=-1), r"data.cv_fold=-1"),
        (dict(cv_folds=5, cv_fold=0, test_path="test.csv"), r"a test file would be ignored"),
    ],
)
def test_bad_fold_keys_are_config_errors(keys, message):
    with pytest.raises(ConfigError, match=message):
        TextClassificationDataModule(train_path=SAMPLE, classes_path=CLASSES, **keys)


def test_more_folds_than_rows_is_a_data_error(tmp_path):
    csv = tmp_path / "tiny.csv"
    csv.write_text('1,"a","alpha beta"\n2,"b","gamma delta"\n1,"c","alpha gamma"\n')
    dm = TextClassificationDataModule(train_path=str(csv), classes_path=CLASSES, cache_dir=str(tmp_path / "c"),
                                      cv_folds=4, cv_fold=0)
    with pytest.raises(DataError, match="data.cv_folds=4 folds of 3 rows"):
        dm.setup("fit")


def test_members_average_independent_bags():
    torch.manual_seed(0)
    ids, offsets = torch.randint(0, 30, (20,)), torch.tensor([0, 6, 6, 13])
    net = EmbeddingBagClassifier(30, 3, embed_dim=4, token_weights=True, token_dropout=0.3, members=3)
    assert len(net.ensemble) == 3
    assert not torch.equal(net.ensemble[0].embedding.weight, net.ensemble[1].embedding.weight)  # own initial weights
    net.eval()
    torch.testing.assert_close(net(ids, offsets), torch.stack([m(ids, offsets) for m in net.ensemble]).mean(0))
    net.train()
    net(ids, offsets).sum().backward()
    assert all(m.embedding.weight.grad.is_sparse and m.token_log_weight.weight.grad.is_sparse for m in net.ensemble)
    # members=1 is the single bag with its old parameter names (old checkpoints still load).
    assert set(EmbeddingBagClassifier(30, 3, token_weights=True).state_dict()) == {
        "embedding.weight", "fc.weight", "fc.bias", "token_log_weight.weight"}
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="members"):
            EmbeddingBagClassifier(30, 3, members=bad)


@pytest.mark.slow
def test_cli_trains_on_a_fold_and_rejects_a_bad_one(tmp_path):
    bad = run_cli("train", "data.cv_folds=5", "data.cv_fold=5", f"paths.output_root={tmp_path / 'out'}", cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert "data.cv_fold=5: with data.cv_folds=5 use a fold number 0 to 4" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = run_cli("train", "data.cv_folds=5", "data.cv_fold=4", "trainer.max_epochs=1", "data.batch_size=512",
                   f"paths.output_root={tmp_path / 'out'}", f"paths.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    log = next((tmp_path / "out").rglob("train.log")).read_text()
    labels, _ = read_labeled_csv(SAMPLE, 14)
    train, val, test = stratified_fold_split(labels, 5, 4, 0.1, 42)
    assert f"Data: train {len(train)}, val {len(val)}, test {len(test)} rows" in log


def test_default_experiment_tests_the_last_epoch_and_takes_fold_keys(tmp_path):
    from test_config_groups import compose_cfg

    from expkit.components import build_datamodule

    cfg = compose_cfg(tmp_path)
    # The default recipe keeps (and tests) the last epoch; val/acc still ranks runs.
    assert cfg.callbacks.model_checkpoint.monitor is None and cfg.monitor.metric == "val/acc"
    assert cfg.data.cv_folds is None and cfg.data.cv_fold is None and cfg.model.members == 1
    folded = compose_cfg(tmp_path, "data.cv_folds=5", "data.cv_fold=3")
    dm = build_datamodule(folded)
    assert (dm.cv_folds, dm.cv_fold) == (5, 3)
