"""A researcher's own torch Dataset (the course's image folder with an annotations file) as a
run's data with `data=dataset`, and a DataModule subclass from the user's own package: trained
with --config-dir, evaluated on another annotations file and predicted with --trust-module."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import re

import numpy as np
import torch
import pytest
from conftest import run_cli
from PIL import Image

DATASET = '''
import csv
from pathlib import Path

import re

import numpy as np
import torch
import torch
from PIL import Image
from torch.utils.data import Dataset


class AnnotatedImages(Dataset):
    """Images listed in an annotations CSV (file,label), the course's own Dataset."""

    classes = ["dark", "light"]

    def __init__(self, root, annotations="annotations.csv"):
        self.root = Path(root)
        with open(self.root / annotations, newline="") as f:
            rows = list(csv.DictReader(f))
        self.files = [r["file"] for r in rows]
        self.targets = [self.classes.index(r["label"]) for r in rows]

    def __len__(self):
        return len(self.files)

    def load_image(self, path):
        image = Image.open(self.root / path).convert("L")
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)

    def __getitem__(self, i):
        return self.load_image(self.files[i]), self.targets[i]
'''

MODEL = '''
import torch


class Flat(torch.nn.Module):
    def __init__(self, in_channels, image_size, num_classes):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * image_size[0] * image_size[1], num_classes))

    def forward(self, x):
        return self.net(x)
'''


def write_images(root: Path, csv_name: str, count: int, seed: int) -> None:
    """`count` 6x6 PNGs per class (dark ~40, light ~210, with noise) and their annotations CSV."""
    rng = np.random.default_rng(seed)
    lines = ["file,label"]
    for label, level in (("dark", 40), ("light", 210)):
        for i in range(count):
            name = f"{csv_name[:-4]}_{label}_{i}.png"
            pixels = np.clip(level + rng.normal(0, 20, (6, 6)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / name)
            lines.append(f"{name},{label}")
    (root / csv_name).write_text("\n".join(lines) + "\n")


def make_lab(root: Path) -> tuple[Path, Path, dict]:
    images = root / "images"
    images.mkdir(parents=True)
    write_images(images, "annotations.csv", 20, seed=0)
    write_images(images, "other.csv", 6, seed=1)
    # The same new images with every label swapped: evaluating on it proves which file eval read.
    swapped = (images / "other.csv").read_text().replace(",dark", ",DARK").replace(",light", ",dark").replace(",DARK", ",light")
    (images / "swapped.csv").write_text(swapped)
    (root / "pets_lab").mkdir()
    (root / "pets_lab" / "__init__.py").write_text("")
    (root / "pets_lab" / "data.py").write_text(DATASET)
    (root / "pets_lab" / "models.py").write_text(MODEL)
    conf = root / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "model").mkdir()
    (conf / "data" / "pets.yaml").write_text(textwrap.dedent(f"""\
        defaults:
          - dataset
          - _self_
        train:
          _target_: pets_lab.data.AnnotatedImages
          root: {images}
        val_fraction: 0.2
        test_fraction: 0.2
        item_loader: load_image
        batch_size: 8
    """))
    (conf / "model" / "flat.yaml").write_text("_target_: pets_lab.models.Flat\n_partial_: true\n")
    env = {"PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return conf, images, env


@pytest.mark.slow
def test_own_dataset_trains_evaluates_on_another_file_and_predicts(workdir):
    conf, images, env = make_lab(workdir / "lab")
    trust = ["--trust-module", "pets_lab"]
    result = run_cli("train", "--config-dir", str(conf), "~experiment", "data=pets", "model=flat",
                     "task=classification", "optimizer=adam", "optimizer.lr=0.05", "trainer=cpu",
                     "trainer.max_epochs=8", cwd=workdir, env=env)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("pets")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test/acc"] == 1.0, metrics

    other = run_cli("eval", str(run_dir),
                    f"data.test={{_target_:pets_lab.data.AnnotatedImages,root:{images},annotations:other.csv}}",
                    "--out", str(workdir / "other.json"), *trust, cwd=workdir, env=env)
    assert other.returncode == 0, other.output
    assert json.loads((workdir / "other.json").read_text())["test/acc"] == 1.0
    swapped = run_cli("eval", str(run_dir),
                      f"data.test={{_target_:pets_lab.data.AnnotatedImages,root:{images},annotations:swapped.csv}}",
                      "--out", str(workdir / "swapped.json"), *trust, cwd=workdir, env=env)
    assert swapped.returncode == 0, swapped.output
    assert json.loads((workdir / "swapped.json").read_text())["test/acc"] == 0.0

    predicted = run_cli("predict", str(run_dir), "other_dark_0.png", "other_light_3.png", "--json", *trust,
                        cwd=workdir, env=env)
    assert predicted.returncode == 0, predicted.output
    rows = [json.loads(line) for line in predicted.stdout.splitlines() if line.startswith("{")]
    assert [r["predictions"][0]["label"] for r in rows] == ["dark", "light"], rows

    refused = run_cli("train", "--config-dir", str(conf), "~experiment", "data=pets", "model=flat",
                      "task=regression", cwd=workdir, env=env)
    assert refused.returncode == 2 and "use task=classification" in refused.stderr.lower().replace("`", "")
    assert "Traceback" not in refused.output


DATAMODULE = '''
from typing import Any, Sequence

import torch

from expkit.data.base import DataModule
from expkit.data.sampling import TensorBatches


class Squares(DataModule):
    """y = x1^2 + x2 on a seeded grid: a DataModule of the user's own package."""

    task_type = "regression"
    input_formats = ("features",)
    model_dims_keys = ("in_features",)

    def __init__(self, n: int = 300, batch_size: int | None = 32, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size)
        self.n, self.seed = n, seed

    def setup(self, stage=None):
        if self.splits:
            return
        x = torch.rand(self.n, 2, generator=torch.Generator().manual_seed(self.seed))
        y = (x[:, :1] ** 2 + x[:, 1:]).float()
        cut = [int(self.n * 0.8), int(self.n * 0.9)]
        self.splits = {"train": TensorBatches(x[:cut[0]], y[:cut[0]]), "val": TensorBatches(x[cut[0]:cut[1]], y[cut[0]:cut[1]]),
                       "test": TensorBatches(x[cut[1]:], y[cut[1]:])}

    def model_dims(self) -> dict[str, Any]:
        return {"in_features": 2}

    def predict_inputs(self, items: Sequence[str]):
        return (torch.tensor([[float(v) for v in item.split(",")] for item in items]),)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
'''


@pytest.mark.slow
def test_own_datamodule_subclass_from_the_users_package(workdir):
    lab = workdir / "lab"
    (lab / "squares_lab").mkdir(parents=True)
    (lab / "squares_lab" / "__init__.py").write_text("")
    (lab / "squares_lab" / "data.py").write_text(DATAMODULE)
    (lab / "conf" / "data").mkdir(parents=True)
    (lab / "conf" / "data" / "squares.yaml").write_text("_target_: squares_lab.data.Squares\nn: 300\nbatch_size: 32\n")
    env = {"PYTHONPATH": os.pathsep.join([str(lab), os.environ.get("PYTHONPATH", "")])}
    result = run_cli("train", "--config-dir", str(lab / "conf"), "experiment=regression", "data=squares", "model=mlp",
                     "optimizer=adam", "optimizer.lr=0.01", "trainer.max_epochs=3", cwd=workdir, env=env)
    assert result.returncode == 0, result.output
    (run_dir,) = result.run_dirs("regression")
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    predicted = run_cli("predict", str(run_dir), "0.5,0.5", "--json", "--trust-module", "squares_lab", cwd=workdir, env=env)
    assert predicted.returncode == 0, predicted.output
    assert isinstance(json.loads(predicted.stdout.splitlines()[-1])["prediction"], float)


class Rows:
    """Regression items: 3 features and a number."""

    def __len__(self):
        return 50

    def __getitem__(self, i):
        import torch

        return torch.tensor([i, i / 2, 1.0]), float(i)


class Labelled:
    """Classification items, 30 of class 0 and 10 of class 1, without a `classes` attribute."""

    def __init__(self):
        self.targets = [0] * 30 + [1] * 10

    def __len__(self):
        return 40

    def __getitem__(self, i):
        import torch

        return torch.zeros(2, 4, 4), self.targets[i]


def test_dataset_module_reads_the_task_and_sizes_and_splits_like_the_built_ins():
    from expkit.contract import model_arguments, task_arguments
    from expkit.data.dataset import DatasetDataModule
    from expkit.errors import ConfigError
    from expkit.tasks.classification import ClassificationTask
    from expkit.tasks.regression import RegressionTask

    rows = DatasetDataModule(Rows(), val_fraction=0.2, test_fraction=0.2, sizes={"out_features": 1}, batch_size=8)
    rows.setup("fit")
    assert rows.task_type == "regression" and rows.task_facts() == {}
    assert rows.model_dims() == {"in_features": 3, "out_features": 1}
    x, y = rows.batches("train")[[0, 1, 2]]
    assert x.shape == (3, 3) and y.shape == (3, 1) and y.dtype.is_floating_point
    assert task_arguments(rows, RegressionTask) == {}
    with pytest.raises(ConfigError, match="Use task=regression, or set data.classes"):
        task_arguments(rows, ClassificationTask)

    labelled = DatasetDataModule(Labelled(), classes=["a", "b"], val_fraction=0.1, test_fraction=0.2, split_seed=3)
    labelled.setup("fit")
    again = DatasetDataModule(Labelled(), classes=["a", "b"], val_fraction=0.1, test_fraction=0.2, split_seed=3)
    again.setup("fit")
    # Stratified (each class in proportion) and seeded (the same split for the same seed).
    test_labels = sorted(labelled.splits["test"].dataset.targets[i] for i in labelled.splits["test"].indices)
    assert test_labels == [0] * 6 + [1] * 2
    assert labelled.splits["val"].indices == again.splits["val"].indices
    assert labelled.model_dims() == {"in_channels": 2, "image_size": [4, 4], "num_classes": 2}
    assert task_arguments(labelled, ClassificationTask) == {"num_classes": 2, "class_names": ["a", "b"]}

    class NeedsVocab(torch.nn.Module):
        def __init__(self, vocab_size: int, num_classes: int) -> None:
            super().__init__()

    with pytest.raises(ConfigError, match=r"needs vocab_size.*data.sizes"):
        model_arguments(labelled, NeedsVocab, {})


class OddItems(torch.utils.data.Dataset):
    """Items a user's Dataset may return by mistake: `kind` says which."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        x = torch.ones(3 if self.kind != "ragged" or i % 2 == 0 else 4)
        return {"dict": {"x": x, "y": i % 2}, "badlabel": (x, 5), "str": (x, "a"), "ragged": (x, i % 2),
                "fine": (x, i % 2)}[self.kind]


@pytest.mark.parametrize("kind, says", [
    ("dict", "data.train item 0 is dict, not an (input, target) pair"),
    ("badlabel", "has class index 5, but there are 2 classes"),
    ("str", "has target 'a': classification targets are class indices"),
    ("ragged", "'s inputs have shape [(4,)], item 0's [(3,)]: the items of a batch must have one shape"),
])
def test_items_that_cannot_train_are_named_before_the_run(kind, says):
    from expkit.data.dataset import DatasetDataModule
    from expkit.errors import DataError

    data = DatasetDataModule(OddItems(kind), classes=["a", "b"], val_fraction=0.2, test_fraction=0.2)
    with pytest.raises(DataError, match=re.escape(says)):
        data.setup("fit")


def test_classes_that_do_not_fit_the_dataset_are_refused():
    from expkit.data.dataset import DatasetDataModule
    from expkit.errors import ConfigError

    with pytest.raises(ConfigError, match="classification needs two or more"):
        DatasetDataModule(OddItems("fine"), classes=["x"])
    own = OddItems("fine")
    own.classes = ["a", "b"]
    with pytest.raises(ConfigError, match="differs from data.train's own classes"):
        DatasetDataModule(own, classes=["x", "y", "z"])
    DatasetDataModule(own, classes=["a", "b"]).setup("fit")  # the same names: fine
