"""expkit eval RUN_DIR [key=value ...]: test metrics of a run's best checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from expkit.commands import parse_command_line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit eval",
        description="Evaluate a run's checkpoint on its test split, or on other data in the same layout with "
        "data.test_path=FILE (a CSV for text, an annotated image folder's CSV for images). Prints a table and "
        "writes the metrics as JSON.",
    )
    p.add_argument("run_dir", help="the run folder, e.g. outputs/dbpedia_sample/2026-01-01_12-00-00")
    p.add_argument("overrides", nargs="*", help="config overrides such as data.test_path=FILE")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint path")
    p.add_argument("--out", help="the JSON file to write (default RUN_DIR/eval.json); an existing file is replaced")
    p.add_argument("--device", default="cpu", help="accelerator for the test loop (cpu, gpu, auto)")
    p.add_argument("--trust-module", action="append", default=[], metavar="PKG",
                   help="allow _target_s from your own package PKG in the run's config (repeatable)")
    return p


def main(argv: list[str]) -> int:
    args = parse_command_line(parser(), argv)
    from expkit.errors import ExpkitError
    from expkit.report import print_metrics
    from expkit.files import write_json_atomic
    from expkit.run.folder import RunFolder
    from expkit.runs.loading import load_run

    out = Path(args.out) if args.out else Path(args.run_dir) / RunFolder.EVAL
    if out.is_dir():
        raise ExpkitError(f"--out {out} is a folder; give a file name such as {out / 'eval.json'}.")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ExpkitError(f"--out {out}: {blocking} is a file, so no file can be written under it; choose another path.")
    guard_records(out)
    run = load_run(args.run_dir, args.overrides, which=args.checkpoint, trusted_modules=args.trust_module)
    metrics = run.evaluate(device=args.device)
    print_metrics(f"Test metrics of {run.checkpoint}", metrics)
    try:
        write_json_atomic(out, {**metrics, "checkpoint": str(run.checkpoint), "overrides": list(args.overrides)})
    except OSError as err:
        raise ExpkitError(f"Cannot write {out}: {err.strerror or err}. The metrics are printed above; give a writable "
                          "file with --out.") from None
    print(f"Wrote {out}")
    return 0


def guard_records(out: Path) -> None:
    """Refuse an --out that would replace a file of a run folder or an export (`--out
    RUN/metrics.json` or `RUN/.hydra/config.yaml` overwrote the run's records, after which the
    run could no longer be evaluated). In a run folder eval writes only at the top: its own
    eval.json, or a new file that is not there yet."""
    from expkit.errors import ExpkitError
    from expkit.export_folder import is_export
    from expkit.run.folder import RunFolder

    resolved = out.resolve()  # through symbolic links: a link to metrics.json is metrics.json
    for folder in resolved.parents:
        if RunFolder.is_run_dir(folder) or is_export(folder):
            top = folder == resolved.parent and not is_export(folder)
            own = resolved.name in (*RunFolder.RECORDS, RunFolder.LOG, RunFolder.LOCK)  # written later, if not yet
            if top and (resolved.name == RunFolder.EVAL or not (resolved.exists() or own)):
                return
            kind = "an export" if is_export(folder) else "the run folder"
            raise ExpkitError(
                f"--out {out} is inside {kind} {folder}, whose files are its records; eval writes there only "
                f"{folder / RunFolder.EVAL} (the default when --out is not given) or a new file at its top. Give "
                "another file name."
            )
