"""expkit export RUN_DIR OUT_DIR [--push REPO_ID]: a model folder for the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path

from expkit.commands import parse_command_line
from expkit.errors import ExpkitError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit export",
        description="Write a run's model as model.safetensors + config.json + preprocessing.json + README.md "
        "(a model card), a folder the Hugging Face Hub accepts as a model repository. Any task: text and image "
        "classifiers and regressors. `expkit predict OUT_DIR ...` works on it.",
    )
    p.add_argument("run_dir", help="the run folder to export")
    p.add_argument("out_dir", help="the folder to write (created; must be empty if it exists)")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint path")
    p.add_argument("--push", metavar="REPO_ID", help="also upload the folder to the Hub (needs a token: HF_TOKEN or `hf auth login`)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    p.add_argument("--trust-module", action="append", default=[], metavar="PKG",
                   help="allow classes from your own package PKG in the run's config (repeatable)")
    return p


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
    args = parse_command_line(parser(), argv)
    from expkit.export_folder import export_run

    out_dir = Path(args.out_dir)
    config = export_run(args.run_dir, out_dir, args.checkpoint, trusted_modules=args.trust_module)
    labels = len(config.get("id2label", {}))
    what = f"{labels} classes" if labels else config["task_type"]
    print(f"Exported {config['architecture'].rsplit('.', 1)[-1]} ({what}) to {out_dir}")
    for name in sorted(p.name for p in out_dir.iterdir()):
        print(f"  {name}")
    if args.push:
        print(f"Pushed: {push(out_dir, args.push, args.private)}")
    return 0
