"""`DatasetDataModule` (`data=dataset`): any `torch.utils.data.Dataset` as a run's data.

The config names the user's own Dataset classes by `_target_` (Hydra builds them): `train`, and
`val`/`test` either as Datasets of their own or as shares of `train` (`val_fraction`,
`test_fraction`; stratified by class for classification and drawn with `split_seed`, as the
built-in data modules split). Each item is `(input, target)` (or `(*inputs, target)`); items are
batched with torch's `default_collate`, and the model receives the inputs (`input_format`
"items").

What the task and the model need is given as keys or read from the data:

- the task: `classes` (class names) makes it classification (targets are class indices), else
  the train dataset's own `classes` attribute (torchvision's convention), else regression
  (targets are numbers; `task=regression`);
- the sizes passed to a model whose signature names them (`model_dims()`): `num_classes`, and
  from the first training item, `in_features` (a 1-D input) or `in_channels` and `image_size`
  (a `[C, H, W]` input); `sizes` adds or replaces any (`sizes: {vocab_size: 3000}`).

`expkit predict` hands each item given on the command line (a path, a line of text) to the
Dataset's own loader, the method `item_loader` names (e.g. `load_image`), which returns one
input as its `__getitem__` does.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, default_collate

from expkit.contract import ANY_TASK
from expkit.data.base import DataModule
from expkit.errors import ConfigError, DataError

log = logging.getLogger("expkit")

ITEMS = "items"
# Every size this module may pass to a model (those the data reveals are the instance's).
ALL_MODEL_DIMS = ("num_classes", "in_features", "in_channels", "image_size")
# Items of each split checked before the run (shapes alike, targets fit the task): enough to catch
# a Dataset that returns the wrong thing, few enough to cost nothing next to an epoch.
CHECKED_ITEMS = 64


class CollatedBatches(Dataset):
    """`dataset[list_of_rows]` is one collated batch `(*inputs, target)` (what the loaders take)."""

    def __init__(self, dataset: Dataset, regression: bool) -> None:
        self.dataset = dataset
        self.regression = regression

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        batch = tuple(default_collate([self.dataset[int(i)] for i in rows]))
        *inputs, target = batch
        target = torch.as_tensor(target)
        if self.regression:
            # One number per item becomes a column, as the regression models predict `[batch, 1]`.
            target = target.float().reshape(len(rows), -1)
        else:
            target = target.long()
        return (*inputs, target)


class DatasetDataModule(DataModule):
    """The user's own `Dataset`s as a run's data; see the module docstring."""

    task_type = ANY_TASK  # classification with `classes` (or the dataset's own), regression without
    input_formats = (ITEMS,)
    model_dims_keys = ALL_MODEL_DIMS
    task_facts_keys = ("num_classes", "class_names")

    def __init__(
        self,
        train: Dataset,
        val: Dataset | None = None,
        test: Dataset | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 42,
        classes: Sequence[str] | None = None,
        sizes: Mapping[str, Any] | None = None,
        item_loader: str | None = None,
        batch_size: int | None = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers)
        for key, dataset in (("train", train), ("val", val), ("test", test)):
            if dataset is not None and not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
                raise ConfigError(
                    f"data.{key} built a {type(dataset).__name__}, not a Dataset: give data.{key}._target_ a class with "
                    "__len__ and __getitem__ (a torch.utils.data.Dataset)."
                )
        fractions = (val_fraction if val is None else 0.0) + (test_fraction if test is None else 0.0)
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and fractions < 1):
            raise ConfigError(
                f"data.val_fraction ({val_fraction}) and data.test_fraction ({test_fraction}) must be in [0, 1) and, for "
                "the splits taken from data.train, sum to less than 1."
            )
        self.datasets = {"train": train, "val": val, "test": test}
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        own = getattr(train, "classes", None)
        if classes is not None and own is not None and [str(c) for c in classes] != [str(c) for c in own]:
            raise ConfigError(
                f"data.classes={[str(c) for c in classes]} differs from data.train's own classes "
                f"{[str(c) for c in own]}: the targets are indices into the Dataset's list. Leave data.classes out, "
                "or give the same names in the same order."
            )
        given = classes if classes is not None else own
        self.class_names = [str(c) for c in given] if given is not None else None
        if self.class_names is not None and len(self.class_names) < 2:
            raise ConfigError(
                f"data.classes holds {len(self.class_names)} class ({self.class_names}): classification needs two or "
                "more. Give every class name (targets are indices into the list), or leave data.classes out for "
                "regression."
            )
        self.sizes = dict(sizes or {})
        self.item_loader = item_loader
        self.found_dims: dict[str, Any] = {}
        self._set_task()

    def _set_task(self) -> None:
        classification = self.class_names is not None
        self.task_type = "classification" if classification else "regression"
        self.task_facts_keys = ("num_classes", "class_names") if classification else ()

    # -- splits --------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train = self.datasets["train"]
        wanted = [s for s in ("val", "test") if self.datasets[s] is None]
        fractions = [self.val_fraction if s == "val" else self.test_fraction for s in wanted]
        if wanted:
            labels = self._labels(train) if self.task_type == "classification" else np.zeros(len(train), dtype=np.int64)
            from expkit.data.labelled import stratified_split

            rest, *parts = stratified_split(labels, fractions, self.split_seed)
            self.splits["train"] = Subset(train, rest.tolist())
            for split, rows in zip(wanted, parts):
                self.splits[split] = Subset(train, rows.tolist())
        else:
            self.splits["train"] = train
        for split in ("val", "test"):
            if self.datasets[split] is not None:
                self.splits[split] = self.datasets[split]
        self._check_items()
        self._read_dims()
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.splits.items())
        task = f"classes {', '.join(self.class_names)}" if self.class_names is not None else "regression"
        log.info("data: %s items (%s); model sizes from the items: %s", sizes, task, self.found_dims or "none")

    def _labels(self, dataset: Dataset) -> np.ndarray:
        """Every item's class index (read once, to stratify the split)."""
        targets = getattr(dataset, "targets", None)  # torchvision's datasets keep them
        if targets is not None:
            values = list(targets)
        else:
            values = []
            for i in range(len(dataset)):
                values.append(self._target_of(dataset[i], f"data.train item {i}"))
        return np.asarray([self._class_index(v, f"data.train item {i}") for i, v in enumerate(values)], dtype=np.int64)

    @staticmethod
    def _target_of(item: Any, where: str) -> Any:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(
                f"{where} is {type(item).__name__}, not an (input, target) pair: make __getitem__ return "
                "(input, target), or (*inputs, target)."
            )
        return item[-1]

    def _class_index(self, target: Any, where: str) -> int:
        """`target` as a class index in range, or a DataError naming the item and the classes."""
        try:
            value = torch.as_tensor(target)
        except (TypeError, ValueError, RuntimeError):
            value = None
        if value is None or value.numel() != 1 or value.is_floating_point() or value.dtype == torch.bool:
            raise DataError(
                f"{where} has target {target!r}: classification targets are class indices (whole numbers 0 to "
                f"{len(self.class_names) - 1} into data.classes {self.class_names}). Return the class's index, or "
                "leave data.classes out for regression."
            )
        index = int(value)
        if not 0 <= index < len(self.class_names):
            raise DataError(
                f"{where} has class index {index}, but there are {len(self.class_names)} classes "
                f"({self.class_names}): give every class in data.classes (targets index into it)."
            )
        return index

    def _check_items(self) -> None:
        """The first CHECKED_ITEMS items of each split can be batched and their targets fit the task,
        before a run starts (a wrong item would stop training with a traceback from deep in torch)."""
        classification = self.task_type == "classification"
        for split, dataset in self.splits.items():
            first: tuple | None = None
            for i in range(min(len(dataset), CHECKED_ITEMS)):
                where = f"data.{split} item {i}"
                item = dataset[i]
                target = self._target_of(item, where)
                try:
                    shapes = tuple(tuple(torch.as_tensor(x).shape) for x in item[:-1])
                except (TypeError, ValueError, RuntimeError) as err:
                    raise DataError(f"{where}'s input cannot be made a tensor ({err}); return tensors, numbers or "
                                    "arrays from __getitem__.") from None
                if first is None:
                    first = shapes
                elif shapes != first:
                    raise DataError(
                        f"{where}'s inputs have shape {list(shapes)}, item 0's {list(first)}: the items of a batch must "
                        "have one shape. Pad, crop or resize them in the Dataset."
                    )
                if classification:
                    self._class_index(target, where)
                else:
                    try:
                        float(torch.as_tensor(target, dtype=torch.float32).reshape(-1)[0])
                    except (TypeError, ValueError, RuntimeError, IndexError):
                        raise DataError(f"{where} has target {target!r}: regression targets are numbers (give "
                                        "data.classes for classification).") from None

    def _read_dims(self) -> None:
        if not len(self.splits["train"]):
            raise DataError("data.train is empty; the Dataset's __len__ returned 0.")
        item = self.splits["train"][0]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(
                f"data.train's items are {type(item).__name__}, not (input, target) pairs: make __getitem__ return "
                "(input, target), or (*inputs, target)."
            )
        x = torch.as_tensor(item[0])
        dims: dict[str, Any] = {}
        if x.dim() == 1:
            dims["in_features"] = int(x.shape[0])
        elif x.dim() == 3:
            dims.update(in_channels=int(x.shape[0]), image_size=[int(x.shape[1]), int(x.shape[2])])
        self.found_dims = dims

    def batches(self, split: str) -> Dataset:
        return CollatedBatches(self.splits[split], regression=self.task_type == "regression")

    # -- the contract --------------------------------------------------------------------------
    def model_dims(self) -> dict[str, Any]:
        dims = dict(self.found_dims)
        if self.class_names is not None:
            dims["num_classes"] = len(self.class_names)
        dims.update(self.sizes)
        self.model_dims_keys = tuple(dims)  # what this data reveals; the class lists all it may
        return dims

    def task_facts(self) -> dict[str, Any]:
        if self.class_names is None:
            return {}
        return {"num_classes": len(self.class_names), "class_names": list(self.class_names)}

    def predict_inputs(self, items: Sequence[str]) -> tuple[torch.Tensor, ...]:
        """Each item through the Dataset's own loader (`item_loader`), batched."""
        dataset = self.datasets["train"]
        if not self.item_loader or not callable(getattr(dataset, self.item_loader, None)):
            raise ConfigError(
                f"data.item_loader={self.item_loader!r}: name the method of {type(dataset).__name__} that turns one input "
                "(a file path, a line of text) into what __getitem__ gives the model (e.g. data.item_loader=load_image)."
            )
        load = getattr(dataset, self.item_loader)
        loaded = [load(item) for item in items]
        batch = default_collate([x if isinstance(x, tuple) else (x,) for x in loaded])
        return tuple(batch)

    def state_dict(self) -> dict[str, Any]:
        return {"class_names": self.class_names, "found_dims": dict(self.found_dims)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = state.get("class_names")
        self.class_names = [str(c) for c in names] if names is not None else None
        self.found_dims = dict(state.get("found_dims") or {})
        self._set_task()

