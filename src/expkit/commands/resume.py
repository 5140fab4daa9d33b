"""expkit resume RUN_DIR [key=value ...]: continue a run from checkpoints/last.ckpt, in place."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit resume",
        description="Continue an interrupted run from its last checkpoint, with its own config, in the same "
        "folder: curves and metrics.json continue as if it had never stopped. Overrides extend a run, e.g. "
        "trainer.max_epochs=20 trains the extra epochs of a finished run.",
    )
    p.add_argument("run_dir", help="the run folder")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. trainer.max_epochs=20")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from omegaconf import OmegaConf

    from expkit.commands import train
    from expkit.errors import ExpkitError
    from expkit.run.files import write_text_atomic
    from expkit.run.loading import checkpoint_path, require_run_dir
    from expkit.run.snapshot import run_from_snapshot

    run_dir = require_run_dir(args.run_dir).resolve()
    last = checkpoint_path(run_dir, "last")
    if any(o.startswith(("hydra.", "-m", "--multirun")) for o in args.overrides):
        raise ExpkitError("resume continues one run in its own folder: Hydra options and sweeps are not allowed.")
    train.RESUME_CHECKPOINT[:] = [str(last)]
    print(f"Resuming {run_dir} from {last.name}")
    # Hydra would overwrite the run's snapshot with one for this command line; the run keeps its
    # own, extended below by the overrides.
    quoted = str(run_dir).replace("\\", "\\\\").replace("'", "\\'")  # sweep job folders hold '=' and ','
    run_from_snapshot(run_dir, [*args.overrides, f"hydra.run.dir='{quoted}'", "hydra.output_subdir=null"])
    if args.overrides and train.LAST_RESULT:
        # The snapshot becomes the config the run now has (Hydra applied the overrides, `+`/`~`
        # included); overrides.yaml lists the run's overrides with the new ones replacing old ones.
        write_text_atomic(run_dir / ".hydra" / "config.yaml", train.LAST_RESULT["config_yaml"])
        overrides_file = run_dir / ".hydra" / "overrides.yaml"
        previous = list(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        key = lambda o: o.split("=", 1)[0].lstrip("+~")  # noqa: E731
        replaced = {key(o) for o in args.overrides}
        merged = [o for o in previous if key(o) not in replaced] + list(args.overrides)
        write_text_atomic(overrides_file, OmegaConf.to_yaml(OmegaConf.create(merged)))
    metrics = train.LAST_RESULT.get("metrics", {})
    return 0 if metrics.get("status") == "finished" else 1
