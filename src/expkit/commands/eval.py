"""expkit eval RUN_DIR [key=value ...]: test metrics of a run's best checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit eval",
        description="Evaluate a run's checkpoint on its test split, or on any CSV in the same layout with "
        "data.test_path=FILE. Prints a table and writes the metrics as JSON.",
    )
    p.add_argument("run_dir", help="the run folder, e.g. outputs/dbpedia_sample/2026-01-01_12-00-00")
    p.add_argument("overrides", nargs="*", help="config overrides such as data.test_path=FILE")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint path")
    p.add_argument("--out", help="where to write the JSON metrics (default RUN_DIR/eval.json)")
    p.add_argument("--device", default="cpu", help="accelerator for the test loop (cpu, gpu, auto)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    import pytorch_lightning as pl

    from expkit.report import print_metrics
    from expkit.run.files import write_json_atomic
    from expkit.run.loading import load_run

    run = load_run(args.run_dir, args.overrides, which=args.checkpoint)
    run.datamodule.setup("test")
    trainer = pl.Trainer(accelerator=args.device, devices=1, logger=False, enable_checkpointing=False, enable_model_summary=False)
    (results,) = trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    metrics = {name: float(value) for name, value in results.items()}
    out = Path(args.out) if args.out else run.run_dir / "eval.json"
    write_json_atomic(out, {**metrics, "checkpoint": str(run.checkpoint), "overrides": list(args.overrides)})
    print_metrics(f"Test metrics of {run.checkpoint}", metrics)
    print(f"Wrote {out}")
    return 0
