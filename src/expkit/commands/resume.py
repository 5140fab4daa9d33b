"""expkit resume RUN_DIR [key=value ...]: continue a run from checkpoints/last.ckpt, in place."""

from __future__ import annotations

import argparse

from expkit.commands import parse_command_line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit resume",
        description="Continue an interrupted run from its last checkpoint, with its own config, in the same "
        "folder: curves and metrics.json continue as if it had never stopped. Overrides extend a run, e.g. "
        "trainer.max_epochs=20 trains the extra epochs of a finished run. A sweep continues with its own command plus "
        "hydra.sweep.dir=SWEEP_DIR (`expkit resume SWEEP_DIR` prints that command).",
    )
    p.add_argument("run_dir", help="the run folder")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. trainer.max_epochs=20")
    p.add_argument("--trust-module", action="append", default=[], metavar="PKG",
                   help="allow _target_s from your own package PKG in the run's config (repeatable)")
    return p


def main(argv: list[str]) -> int:
    args = parse_command_line(parser(), argv)
    import expkit
    from expkit.commands.train import report, result_exit_code
    from expkit.logs import console_logging
    from expkit.run.folder import RunFolder

    from expkit.run.folder import process_rank

    from pathlib import Path

    from expkit.errors import ExpkitError
    from expkit.runs.sweep import continue_command, is_sweep_folder

    if is_sweep_folder(Path(args.run_dir)):
        # A sweep continues through its sweeper (finished jobs skipped), not job by job.
        command = continue_command(Path(args.run_dir)) or f"the sweep's own command plus hydra.sweep.dir={args.run_dir}"
        raise ExpkitError(f"{args.run_dir} is a sweep folder, not a run. Continue the sweep (finished jobs are skipped, "
                          f"interrupted ones resumed, failed ones run again) with: {command}; or resume one of its jobs "
                          f"with `expkit resume {Path(args.run_dir) / '<N>_<overrides>'}`.")
    folder = RunFolder.open(args.run_dir)
    console_logging()
    rank = process_rank()  # the other processes of a DDP run re-run this command quietly
    if rank == 0:
        print(f"Resuming {folder.path} from {folder.resume_checkpoint().relative_to(folder.path)}")
    result = expkit.resume(folder.path, args.overrides, trusted_modules=args.trust_module)
    if rank == 0:
        report(result)
    return result_exit_code(result)
