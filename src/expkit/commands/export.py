"""expkit export RUN_DIR OUT_DIR [--push REPO_ID]: a model folder for the Hugging Face Hub."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit export",
        description="Write a trained text classifier as model.safetensors + config.json + vocab.txt + README.md "
        "(a model card), a folder the Hugging Face Hub accepts as a model repository. "
        "`expkit predict OUT_DIR ...` works on it.",
    )
    p.add_argument("run_dir", help="the run folder to export")
    p.add_argument("out_dir", help="the folder to write (created; must be empty if it exists)")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint path")
    p.add_argument("--push", metavar="REPO_ID", help="also upload the folder to the Hub (needs a token: HF_TOKEN or `hf auth login`)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    return p


def export_run(run_dir: str, out_dir: Path, which: str = "best") -> dict[str, Any]:
    from safetensors.torch import save_file

    from expkit import __version__
    from expkit.inference import EXPORT_CONFIG, EXPORT_VOCAB, EXPORT_WEIGHTS
    from expkit.run.files import read_json, write_json_atomic, write_text_atomic
    from expkit.run.loading import load_run

    run = load_run(run_dir, which=which)
    dm = run.datamodule
    if not hasattr(dm, "vocab"):
        raise ExpkitError(f"{run_dir} is not a text-classification run; only those can be exported for now.")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExpkitError(f"{out_dir} exists and is not empty; choose a new folder so nothing is overwritten.")
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg = {k: v for k, v in run.cfg.model.items() if not k.startswith("_")}
    metrics_file = run.run_dir / "metrics.json"
    metrics = read_json(metrics_file) if metrics_file.is_file() else {}
    scores = {k: v for k, v in metrics.items() if k.startswith(("test/", "val/"))}
    config = {
        "library_name": "expkit",
        "expkit_version": __version__,
        "architecture": run.cfg.model._target_,
        "model_args": {**model_cfg, **dm.model_dims()},
        "batch_format": dm.batch_format,
        "class_names": list(dm.class_names),
        "tokenizer": "basic_english",
        "text_pipeline": {
            "ngrams": dm.ngrams,
            "drop_unknown": dm.drop_unknown,
            "specials": list(dm.specials),
            "max_length": dm.max_length,
            "text_fields": list(dm.text_fields),
        },
        "metrics": scores,
        "experiment": str(run.cfg.get("name")),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in run.task.net.state_dict().items()}
    save_file(state, str(out_dir / EXPORT_WEIGHTS), metadata={"format": "pt", "library": "expkit"})
    write_json_atomic(out_dir / EXPORT_CONFIG, config)
    dm.vocab.save(out_dir / EXPORT_VOCAB)
    write_text_atomic(out_dir / "README.md", model_card(config, metrics))
    return config


def model_card(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(config["metrics"].items()) if isinstance(v, float))
    labels = ", ".join(config["class_names"])
    arch = config["architecture"].rsplit(".", 1)[-1]
    return f"""---
library_name: expkit
pipeline_tag: text-classification
tags:
- text-classification
- pytorch
- expkit
language:
- en
license: cc-by-sa-3.0
---

# {config["experiment"]}: {arch}

A text classifier trained with [expkit](https://pypi.org/project/expkit/) (`{config["experiment"]}` experiment):
`basic_english` tokens{" + bigrams" if config["text_pipeline"]["ngrams"] > 1 else ""} -> {arch}
({len(config["class_names"])} classes: {labels}).

## Metrics

| metric | value |
|---|---|
{rows}

Epochs trained: {metrics.get("epochs_done", "?")}; wall time {metrics.get("wall_time_s", "?")} s.

## Use

```bash
pip install expkit
expkit predict . "Text to classify"
```

Files: `model.safetensors` (weights), `config.json` (architecture, sizes, label names, text pipeline),
`vocab.txt` (one token a line; line n is id n-1).

## Data

Trained on DBpedia-14 (Zhang, Zhao & LeCun, 2015; DBpedia 2014), licensed CC BY-SA 3.0 and GNU FDL.
"""


def push(folder: Path, repo_id: str, private: bool) -> str:
    try:
        from huggingface_hub import HfApi, get_token
    except ImportError:
        raise ExpkitError("Pushing needs huggingface_hub: pip install 'expkit[hub]'.") from None
    if not get_token():
        raise ExpkitError(
            f"No Hugging Face token, so {folder} was not pushed to {repo_id}. Log in with `hf auth login` "
            "or set HF_TOKEN, then run `expkit export` again with --push (the folder itself is written)."
        )
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model")
    except Exception as err:  # network errors, 401/403, bad repo ids: all reported the same way
        raise ExpkitError(
            f"Could not push {folder} to the Hub as {repo_id}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. "
            "Check the network, the token's write access and the repo id (user/name); the folder is written and can be "
            "pushed later."
        ) from None
    return str(getattr(info, "commit_url", repo_id))


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    out_dir = Path(args.out_dir)
    config = export_run(args.run_dir, out_dir, args.checkpoint)
    print(f"Exported {config['architecture'].rsplit('.', 1)[-1]} ({len(config['class_names'])} classes) to {out_dir}")
    for name in sorted(p.name for p in out_dir.iterdir()):
        print(f"  {name}")
    if args.push:
        print(f"Pushed: {push(out_dir, args.push, args.private)}")
    return 0
