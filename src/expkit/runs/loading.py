"""Open a finished (or interrupted) run folder, or an export: a model that evaluates and predicts.

Configs read here came from files, not from the user's own `conf/`: every `_target_` in them is
checked against expkit's allow-list (`expkit.trust`) before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from expkit.errors import ConfigError, ExpkitError
from expkit.run.folder import RunFolder


def read_config_file(path: Path, what: str) -> DictConfig:
    """A YAML config written into a run folder; a damaged one is an ExpkitError naming it."""
    from expkit.files import safe_load_yaml

    try:
        text = path.read_text(encoding="utf-8")
        safe_load_yaml(text)  # first: an alias bomb would hang OmegaConf's own parse
        cfg = OmegaConf.create(text)
    except FileNotFoundError:
        raise ExpkitError(f"{path} is missing, so this {what} cannot be rebuilt; restore it from a copy of the run folder.") from None
    except Exception as err:  # noqa: BLE001 - yaml and OmegaConf raise many types for broken files
        raise ExpkitError(f"{path} is damaged ({str(err).splitlines()[0]}); restore it from a copy of the run folder.") from None
    if not isinstance(cfg, DictConfig):
        raise ExpkitError(f"{path} does not hold a config mapping; restore it from a copy of the run folder.")
    return cfg


def override_list(overrides: Any, what: str = "overrides") -> list[str]:
    """`overrides` as a list of strings; a ConfigError for what Python would silently misread (a
    single string is a sequence of one-letter overrides)."""
    if overrides is None:
        return []
    if isinstance(overrides, (str, bytes)) or not isinstance(overrides, Sequence):
        raise ConfigError(
            f"{what} must be a list of strings such as [\"trainer.max_epochs=5\"], got {type(overrides).__name__} "
            f"{overrides!r:.80}."
        )
    bad = [o for o in overrides if not isinstance(o, str)]
    if bad:
        raise ConfigError(f"{what} must be strings such as \"key=value\"; got {bad[0]!r} ({type(bad[0]).__name__}).")
    return list(overrides)


def apply_overrides(cfg: DictConfig, overrides: Sequence[str], source: str) -> DictConfig:
    """`key=value` overrides on a resolved config (eval/predict: e.g. data.test_path=FILE)."""
    overrides = override_list(overrides)
    bad = [o for o in overrides if "=" not in o or o.startswith(("+", "~", "-"))]
    if bad:
        raise ConfigError(f"Overrides here must look like key=value (an existing key); got {bad}.")
    for override in overrides:
        key, value = override.split("=", 1)
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise ConfigError(f"{source} has no key `{key}` (from `{override}`); check the spelling (`expkit diff` shows a run's keys).")
        from hydra.core.override_parser.overrides_parser import OverridesParser

        try:
            parsed = OverridesParser.create().parse_override(override)
            OmegaConf.update(cfg, key, parsed.value(), merge=False)
        except Exception as err:  # noqa: BLE001 - parser and OmegaConf errors alike
            raise ConfigError(f"Cannot apply `{override}`: {str(err).splitlines()[0]}") from None
    return cfg


def run_config(folder: RunFolder, overrides: Sequence[str] = (), trusted_modules: Sequence[str] = ()) -> DictConfig:
    """The run's fully resolved config, allow-list checked, with `key=value` overrides applied."""
    from expkit.trust import check_config_targets

    path = folder / RunFolder.RESOLVED
    cfg = read_config_file(path, "run")
    check_config_targets(cfg, str(path), trusted_modules)
    return apply_overrides(cfg, overrides, str(path))


def check_device(map_location: Any) -> None:
    """A device name torch knows and this machine has, before any weights are read (else the
    load fails with a message about a damaged checkpoint)."""
    import torch

    if not isinstance(map_location, str):
        return
    try:
        device = torch.device(map_location)
    except RuntimeError:
        raise ConfigError(f"--device {map_location}: not a device name; use cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {map_location}: this machine has no CUDA GPU that torch can use; use --device cpu.")


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """torch.load with weights_only=True: a checkpoint can hold tensors and plain containers only.
    mmap: only the tensors used are read (a best checkpoint that is a hard link of last.ckpt also
    holds the optimizer moments, which evaluation never touches)."""
    import torch

    if not Path(path).is_file():
        what = "is a folder" if Path(path).is_dir() else "does not exist"
        raise ExpkitError(f"Checkpoint {path} {what}; give the path of a .ckpt file.")
    try:
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):  # e.g. a file in torch's old non-zip format
                raise
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - the weights-only unpickler fails on a damaged file with
        # any of UnpicklingError, EOFError, KeyError, IndexError, RuntimeError, ...
        first = (str(err).strip().splitlines() or [""])[0]
        detail = f"{type(err).__name__}: {first}" if first else f"{type(err).__name__}, an empty or cut-off file"
        raise ExpkitError(
            f"Cannot load checkpoint {path}: {detail}. It is damaged or was not written by "
            "expkit (only tensors and plain containers are accepted)."
        ) from None
    if not isinstance(ckpt, dict):
        raise ExpkitError(f"Checkpoint {path} holds a {type(ckpt).__name__}, not a checkpoint; it was not written by expkit.")
    return ckpt


@dataclass
class LoadedRun:
    """A trained model with its data module: `evaluate()` on the test split, `predict(items)`."""

    cfg: DictConfig
    datamodule: Any
    task: Any
    checkpoint: Path | None = None
    folder: RunFolder | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path | None:
        return self.folder.path if self.folder else None

    def evaluate(self, device: str = "cpu", progress: bool | None = None) -> dict[str, float]:
        """Test metrics of this model on the data module's test split (`data.test_path=` replaces it)."""
        import sys

        import pytorch_lightning as pl

        from expkit.run.record import plain_metrics
        from expkit.torch_threads import torch_threads

        show_bar = sys.stderr.isatty() if progress is None else progress
        with torch_threads(self.cfg.get("torch_threads")):  # as the run trained
            self.datamodule.setup("test")
            try:
                trainer = pl.Trainer(
                    accelerator=device, devices=1, logger=False, enable_checkpointing=False,
                    enable_model_summary=False, enable_progress_bar=show_bar,
                )
            except (ValueError, RuntimeError) as err:  # Lightning's MisconfigurationException is a ValueError
                raise ConfigError(f"--device {device}: {str(err).splitlines()[0]}") from None
            (results,) = trainer.test(self.task, datamodule=self.datamodule, verbose=False)
        return plain_metrics(results)

    def predict(self, items: Sequence[str], top_k: int = 1, batch_size: int = 256) -> list[dict[str, Any]]:
        """One dict per item: class names and probabilities, or predicted values."""
        import torch

        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise ExpkitError(f"predict(items): give a list of inputs, e.g. [{items!r:.40}]; got {type(items).__name__}.")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ExpkitError(f"predict(top_k={top_k!r}): use a whole number >= 1.")
        if not items:
            return []
        device = next(self.task.parameters()).device
        out = []
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                inputs = self.datamodule.predict_inputs(list(items[start : start + batch_size]))
                outputs = self.task.predict_outputs(*(t.to(device) for t in inputs)).cpu()
                out += self.task.describe_predictions(outputs, top_k=top_k)
        return out

    @property
    def class_names(self) -> list[str]:
        return list(getattr(self.task, "class_names", []) or [])

    def compile(self) -> None:
        """Run the network under `torch.compile` from now on."""
        import torch

        self.task.net = torch.compile(self.task.net, dynamic=True)


def load_run(
    run_dir: str | Path, overrides: Sequence[str] = (), which: str = "best", map_location: Any = "cpu",
    trusted_modules: Sequence[str] = (),
) -> LoadedRun:
    """Rebuild the run's data module and task from its config and load a checkpoint into them."""
    from expkit.components import build_datamodule, build_task

    folder = RunFolder.open(run_dir)
    check_device(map_location)
    cfg = run_config(folder, overrides, trusted_modules)
    ckpt_file = folder.checkpoint(which)
    ckpt = load_checkpoint(ckpt_file, map_location)
    datamodule = build_datamodule(cfg)
    state = ckpt.get(type(datamodule).__qualname__)
    if state is not None:
        datamodule.load_state_dict(state)
    else:
        datamodule.setup("fit")  # data modules without state (e.g. synthetic data) rebuild it
    task = build_task(cfg, datamodule)
    try:
        task.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise ExpkitError(f"{ckpt_file} does not fit this run's model: {str(err).splitlines()[0]}") from None
    task.to(map_location).eval()
    return LoadedRun(cfg, datamodule, task, ckpt_file, folder)
