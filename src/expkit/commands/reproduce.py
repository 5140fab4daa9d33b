"""expkit reproduce RUN_DIR [key=value ...]: run again from the saved snapshot and compare."""

from __future__ import annotations

import argparse

from expkit.commands import parse_command_line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit reproduce",
        description="Compose the run's saved config snapshot (RUN_DIR/.hydra/config.yaml, not today's conf/), "
        "train it into a new folder, and print original vs reproduced final metrics and the differences in "
        "environment. On CPU with deterministic=true runs reproduce exactly.",
    )
    p.add_argument("run_dir", help="the run folder to reproduce")
    p.add_argument("overrides", nargs="*", help="config overrides for the new run")
    p.add_argument("--check", action="store_true", help="exit 1 when a metric differs by more than --tol")
    p.add_argument("--tol", type=float, default=0.0, help="allowed absolute difference per metric (default 0)")
    p.add_argument("--trust-module", action="append", default=[], metavar="PKG",
                   help="allow _target_s from your own package PKG in the run's config (repeatable)")
    return p


def compare_environments(old: dict, new: dict) -> list[tuple[str, str, str]]:
    """(field, original, reproduced) for every environment fact that differs."""
    def facts(env: dict) -> dict[str, str]:
        out = {"python": env.get("python"), "platform": env.get("platform")}
        out.update({f"package {k}": v for k, v in (env.get("packages") or {}).items()})
        git = env.get("git") or {}
        out["git commit"] = git.get("commit")
        out["git dirty"] = git.get("dirty")
        out["cuda"] = (env.get("device") or {}).get("cuda_available")
        return {k: str(v) for k, v in out.items()}

    a, b = facts(old), facts(new)
    return [(k, a.get(k, ""), b.get(k, "")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def refuse_unfinished(folder) -> None:
    """`--check` compares against the run's final metrics: a run still training (its folder's lock
    is held, by `train` or `resume`) or killed mid-training has none yet, and "metrics differ"
    would blame the reproduction for the original's unfinished numbers."""
    from expkit.errors import ExpkitError

    holder = folder.holder()
    if holder is not None:
        raise ExpkitError(
            f"{folder.path} is still training ({holder}): its metrics are not final, so there is nothing to check "
            "the reproduction against yet. Wait for it to end, then run `expkit reproduce --check` again."
        )
    status = folder.read_metrics().get("status")
    if status == "running":
        raise ExpkitError(
            f"{folder.path} says `running` but no process is training it: it was stopped (killed) before it ended, "
            f"so its metrics are not final. Finish it with `expkit resume {folder.path}`, then check again."
        )


def main(argv: list[str]) -> int:
    args = parse_command_line(parser(), argv)
    import expkit
    from expkit.report import print_table
    from expkit.run.folder import RunFolder, process_rank
    from expkit.commands.train import report, result_exit_code
    from expkit.logs import console_logging

    folder = RunFolder.open(args.run_dir)
    if args.check:
        refuse_unfinished(folder)
    original = folder.read_metrics()
    console_logging()
    result = expkit.reproduce(folder.path, args.overrides, trusted_modules=args.trust_module)
    if process_rank() > 0:  # another process of a DDP run: rank 0 reports
        return result_exit_code(result)
    report(result)
    new = result.metrics
    names = sorted(k for k in set(original) | set(new) if "/" in k and not k.startswith("lr-"))
    rows, worst = [], 0.0
    for name in names:
        a, b = original.get(name), new.get(name)
        diff = abs(a - b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else float("inf")
        worst = max(worst, diff)
        rows.append((name, a, b, diff))
    print_table(f"Original ({folder.path}) vs reproduced ({result.run_dir})", ["metric", "original", "reproduced", "abs diff"], rows)
    diffs = compare_environments(folder.read_environment(), RunFolder(result.run_dir).read_environment())
    if diffs:
        print_table("Environment differences", ["what", "original", "reproduced"], diffs)
    else:
        print("Environment: identical (python, platform, packages, git commit).")
    if result.status != "finished":
        return result_exit_code(result)
    if args.check and worst > args.tol:
        print(f"error: metrics differ by up to {worst:.3g} (> --tol {args.tol})")
        return 1
    return 0
