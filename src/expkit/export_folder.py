"""A run's model as a Hugging Face model folder, and loading such a folder back for `predict`.

    model.safetensors    the network's weights (mode 0644)
    config.json          architecture, model_args, task, id2label/label2id (classification)
    preprocessing.json   the data module's class, its config and its state (vocabulary, class
                         names, image size and normalisation, ...): what `predict_inputs` needs
    README.md            a model card

Any task works: the data module's `state_dict()` is the preprocessing, the task's
`describe_predictions` the output. A folder comes from elsewhere, so loading it builds only
classes on expkit's allow-list (`expkit.trust`): `architecture: builtins.print` is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from omegaconf import OmegaConf

from expkit.errors import ExpkitError
from expkit.files import pid_alive

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
PREPROCESSING = "preprocessing.json"
CARD = "README.md"
# Where the model card's install line points: expkit is installed from its repository.
INSTALL_LINE = "pip install 'git+https://github.com/<you>/expkit'   # or: pip install -e . in a clone of expkit"


def is_export(path: str | Path) -> bool:
    path = Path(path)
    return (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def export_run(run_dir: str | Path, out_dir: str | Path, which: str = "best", trusted_modules: Sequence[str] = ()) -> dict[str, Any]:
    """Write `run_dir`'s model (checkpoint `which`) to the new folder `out_dir`; return config.json.

    The files are written into a hidden sibling, `.<name>.partial-<pid>`, renamed to `out_dir`
    once complete: an export killed midway (kill -9, power loss) leaves no `out_dir` at all, so
    nothing half-written looks like an export and the same command can simply be run again. A
    sibling left by a dead process is removed by the next export to the same folder."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        what = "is a file" if not out_dir.is_dir() else "exists and is not empty"
        raise ExpkitError(f"{out_dir} {what}; choose a new folder so that nothing is overwritten.")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)  # first: an unwritable place is refused before any work
        remove_dead_partials(out_dir)
        partial = out_dir.parent / f".{out_dir.name}{PARTIAL}{os.getpid()}"
        partial.mkdir()
    except OSError as err:
        # mkdir of a path under a file says "File exists" (of the file); name what is in the way.
        blocking = next((p for p in (out_dir.parent, *out_dir.parent.parents) if p.exists() and not p.is_dir()), None)
        reason = f"Not a directory ({blocking} is a file)" if blocking is not None else (err.strerror or str(err))
        raise ExpkitError(f"Cannot create {out_dir}: {reason}. Choose a folder you can write.") from None
    try:
        config = _write_export(run_dir, partial, which, trusted_modules)
        # rename(2) replaces an empty folder the user made for the export; a non-empty one is refused.
        os.rename(partial, out_dir)
        return config
    except BaseException as err:
        import shutil

        shutil.rmtree(partial, ignore_errors=True)  # a refused or failed export leaves nothing behind
        if isinstance(err, OSError):
            raise ExpkitError(f"Cannot write the export into {out_dir}: {err.strerror or err}; nothing was written there.") from None
        raise


# The hidden sibling an export is written into before it is renamed into place.
PARTIAL = ".partial-"


def remove_dead_partials(out_dir: Path) -> None:
    """Remove the half-written siblings of `out_dir` whose export process is gone (killed)."""
    import shutil

    for leftover in out_dir.parent.glob(f".{out_dir.name}{PARTIAL}*"):
        pid = leftover.name.rsplit(PARTIAL, 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _write_export(run_dir: str | Path, out_dir: Path, which: str, trusted_modules: Sequence[str]) -> dict[str, Any]:
    from safetensors.torch import save_file

    from expkit.version import __version__
    from expkit.files import write_json_atomic, write_text_atomic
    from expkit.runs.loading import load_run

    run = load_run(run_dir, which=which, trusted_modules=trusted_modules)
    dm, task, cfg = run.datamodule, run.task, run.cfg
    metrics = run.folder.read_metrics() if run.folder else {}
    model_args = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if not str(k).startswith("_")}
    from expkit.contract import model_arguments

    model_args.update(model_arguments(dm, type(task.net)))
    config: dict[str, Any] = {
        "library_name": "expkit",
        "expkit_version": __version__,
        "architecture": cfg.model._target_,
        "model_args": model_args,
        "input_format": dm.input_format,
        "task_type": task.task_type,
        "task": {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "_partial_"},
        "experiment": str(cfg.get("name")),
        "metrics": {k: v for k, v in metrics.items() if k.startswith(("test/", "val/")) and isinstance(v, (int, float))},
    }
    names = list(getattr(task, "class_names", []) or [])
    if names:
        config["id2label"] = {str(i): n for i, n in enumerate(names)}
        config["label2id"] = {n: i for i, n in enumerate(names)}
    preprocessing = {
        "data": {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items()},
        "state": dm.state_dict(),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in task.net.state_dict().items()}
    weights = out_dir / WEIGHTS
    save_file(state, str(weights), metadata={"format": "pt", "library": "expkit"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(weights, 0o666 & ~umask)
    write_json_atomic(out_dir / CONFIG, config)
    write_json_atomic(out_dir / PREPROCESSING, preprocessing)
    write_text_atomic(out_dir / CARD, model_card(config, metrics))
    return config


def load_export(path: str | Path, map_location: Any = "cpu", trusted_modules: Sequence[str] = ()) -> Any:
    """An export folder as a `LoadedRun` (predict; no optimizer). Builds only allow-listed classes."""
    import torch
    from hydra.utils import instantiate
    from safetensors.torch import load_file

    from expkit.contract import task_arguments
    from expkit.files import read_json
    from expkit.runs.loading import LoadedRun
    from expkit.trust import check_config_targets, check_export_config

    from expkit.runs.loading import check_device

    check_device(map_location)
    folder = Path(path)
    config = read_json(folder / CONFIG)
    pre_path = folder / PREPROCESSING
    if not pre_path.is_file():
        raise ExpkitError(f"{folder} has no {PREPROCESSING}; it was not written by this version of `expkit export`. Export the run again.")
    preprocessing = read_json(pre_path)
    try:
        architecture, model_args = str(config["architecture"]), dict(config["model_args"])
        data_cfg, data_state, task_cfg = dict(preprocessing["data"]), preprocessing["state"], dict(config["task"])
    except (KeyError, TypeError, ValueError) as err:
        raise ExpkitError(f"{folder / CONFIG} or {pre_path} lacks {err}; export the run again.") from None
    check_export_config(config, str(folder / CONFIG), trusted_modules)
    check_config_targets({"data": data_cfg}, str(pre_path), trusted_modules)
    check_config_targets({"task": task_cfg}, str(folder / CONFIG), trusted_modules)
    datamodule = instantiate(data_cfg, _convert_="all")
    datamodule.load_state_dict(data_state)
    net = instantiate({"_target_": architecture, **model_args}, _convert_="all")
    datamodule.set_input_format(str(config.get("input_format") or getattr(type(net), "input_format", None) or datamodule.input_format))
    device = torch.device(map_location) if isinstance(map_location, str) else map_location
    try:
        net.load_state_dict(load_file(folder / WEIGHTS, device=str(device)))
    except (RuntimeError, OSError) as err:
        raise ExpkitError(f"{folder / WEIGHTS} does not fit {architecture}: {str(err).splitlines()[0]}") from None
    task = instantiate(task_cfg, net=net, optimizer=None, _convert_="all", **task_arguments(datamodule, _class(task_cfg)))
    task.to(device).eval()
    return LoadedRun(OmegaConf.create({"data": data_cfg, "task": task_cfg}), datamodule, task, None, None, {"export": str(folder)})


def _class(node: dict[str, Any]) -> Any:
    from hydra.utils import get_class

    return get_class(node["_target_"])


def model_card(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(config["metrics"].items()) if isinstance(v, float))
    arch = config["architecture"].rsplit(".", 1)[-1]
    task_type = config["task_type"]
    labels = list(config.get("id2label", {}).values())
    pipeline = {"classification": "text-classification" if config["input_format"] in ("bag", "padded") else "image-classification"}.get(task_type, "tabular-regression")
    what = f"{len(labels)} classes: {', '.join(labels)}" if labels else "regression"
    example = {"bag": '"Text to classify"', "padded": '"Text to classify"', "image": "image.png"}.get(config["input_format"], '"0.5"')
    return f"""---
library_name: expkit
pipeline_tag: {pipeline}
tags:
- {pipeline}
- pytorch
- expkit
---

# {config["experiment"]}: {arch}

A {task_type} model trained with expkit (`{config["experiment"]}` experiment): {arch} ({what}).

## Metrics

| metric | value |
|---|---|
{rows}

Epochs trained: {metrics.get("epochs_done", "?")}; wall time {metrics.get("wall_time_s", "?")} s.

## Use

```bash
{INSTALL_LINE}
expkit predict . {example}
```

Files: `model.safetensors` (weights), `config.json` (architecture, sizes, labels), `preprocessing.json`
(the data pipeline's settings and state, e.g. the vocabulary).
"""


def describe(config_path: Path) -> str:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return f"{config['architecture'].rsplit('.', 1)[-1]} ({config.get('task_type')})"
