"""What differs between run folders: config, final metrics, environment and lineage (`expkit diff`).

Reads only files (`.hydra/resolved.yaml` with yaml.safe_load, metrics.json, environment.json):
nothing is instantiated and neither torch nor Lightning is imported.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from expkit.errors import ExpkitError
from expkit.runs.collect import RESOLVED_FILE, RunRow, find_run_dirs, read_run
from expkit.runs.columns import COLUMNS, cell_text, display_path, source_text
from expkit.runs.config_keys import is_per_run_key, run_paths
from expkit.runs.table import json_safe

from expkit.run.folder import RunFolder

ENVIRONMENT_FILE = RunFolder.ENVIRONMENT
class _Absent:
    """Stands for a config key one run has and another has not (json: null)."""

    def __str__(self) -> str:
        return "(absent)"


ABSENT = _Absent()
# Facts of metrics.json shown above the metrics, in this order.
RUN_FACTS = ("status", "started", "epochs", "wall_time_s", "monitor", "best")


@dataclass
class RunsDiff:
    """Side-by-side values, one list entry per run, for the keys worth showing."""

    runs: list[Path]
    labels: list[str]
    config: dict[str, list[Any]] = field(default_factory=dict)
    # The config groups whose chosen option differs ({"model": ["linear", "mlp"]}); the keys
    # under them are in `config` (json) but not in the table, where the option says it.
    choices: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    environment: dict[str, list[Any]] = field(default_factory=dict)
    sources: list[dict[str, Any] | None] = field(default_factory=list)


def require_run(path: str | Path) -> Path:
    """`path` if it is a run folder with a resolved config, else an ExpkitError saying what it is."""
    run_dir = Path(path)
    if not run_dir.exists():
        raise ExpkitError(f"{path} does not exist. Pass run folders such as outputs/<experiment>/<timestamp>/ "
                          "(`expkit runs` lists them).")
    resolved = run_dir / RESOLVED_FILE
    if resolved.is_file():
        # A damaged snapshot would read as a run with no config: every key of the others "differs".
        import yaml
        from expkit.files import safe_load_yaml

        try:
            config = safe_load_yaml(resolved.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            config = None
        if not isinstance(config, dict):
            raise ExpkitError(f"{resolved} is damaged: it does not read as a YAML mapping, so this run's config "
                              "cannot be compared. Restore the file from a copy of the run, or leave this run out.")
        return run_dir
    if RunFolder.is_run_dir(run_dir):
        raise ExpkitError(f"{path} is a run folder without its config snapshot {RESOLVED_FILE} (deleted, or "
                          "the run stopped before writing it), so its config cannot be compared. Restore the file "
                          "from a copy of the run, or leave this run out.")
    inside = find_run_dirs(run_dir) if run_dir.is_dir() else []
    hint = ""
    if inside:
        shown = " ".join(display_path(p) for p in inside[:3])
        hint = f" It holds {len(inside)} run folder{'s' if len(inside) > 1 else ''} (a sweep or an outputs folder?): pass them, e.g. expkit diff {shown}."
    raise ExpkitError(
        f"{path} is not an expkit run folder: it has no {RESOLVED_FILE}, the config snapshot a run writes "
        f"when it starts.{hint} `expkit runs` lists run folders."
    )


def diff_runs(paths: Sequence[str | Path]) -> RunsDiff:
    """Compare two or more run folders (checked with require_run)."""
    run_dirs = [require_run(p) for p in paths]
    rows = [read_run(d) for d in run_dirs]
    labels = [string.ascii_uppercase[i] if i < 26 else f"R{i + 1}" for i in range(len(rows))]
    result = RunsDiff(run_dirs, labels)
    result.config = config_differences(rows)
    result.choices = choice_differences(rows)
    result.metrics = side_by_side_metrics(rows)
    result.environment = environment_differences(run_dirs)
    result.sources = [row.source for row in rows]
    return result


def config_differences(rows: Sequence[RunRow]) -> dict[str, list[Any]]:
    """Every flattened config key whose value differs (absent counts), per-run paths left out.

    Unlike `params`, `_target_`s are kept: here a differing class is the answer, not noise."""
    configs = []
    for row in rows:
        config = row.config or {}
        own = run_paths(row.run_dir, config)
        configs.append({k: v for k, v in config.items() if not is_per_run_key(k, v, own)})
    keys = list(dict.fromkeys(k for c in configs for k in c))
    out = {}
    for key in keys:
        values = [c.get(key, ABSENT) for c in configs]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out[key] = values
    return out


def choice_differences(rows: Sequence[RunRow]) -> dict[str, list[Any]]:
    """The config groups (Hydra's `hydra.runtime.choices`, expkit.run.params) whose chosen
    option differs between the runs, with each run's option (ABSENT without one)."""
    groups = list(dict.fromkeys(g for row in rows for g in row.choices))
    out = {}
    for group in groups:
        values = [row.choices.get(group, ABSENT) for row in rows]
        if len({str(v) for v in values}) > 1:
            out[group] = values
    return out


def shown_config(diff: RunsDiff) -> dict[str, list[Any]]:
    """What the table and Markdown views show of the config: a group whose option differs by its
    option names (`model`: linear, mlp), then the keys outside such groups."""
    inside = tuple(g + "." for g in diff.choices)
    return {**diff.choices, **{k: v for k, v in diff.config.items() if not k.startswith(inside)}}


def side_by_side_metrics(rows: Sequence[RunRow]) -> dict[str, list[Any]]:
    """Run facts, then every final metric (names with a "/") any run has, sorted by name."""
    facts = {c.key: c for c in COLUMNS}
    out = {key: [facts[key].get(row) for row in rows] for key in RUN_FACTS}
    names = sorted({m for row in rows for m in row.metrics if "/" in m})
    out.update({name: [row.metrics.get(name) for row in rows] for name in names})
    return out


def environment_facts(env: dict[str, Any] | None) -> dict[str, Any]:
    """The comparable facts of an environment.json (its command is left out: the config says it)."""
    if env is None:
        return {ENVIRONMENT_FILE: "missing"}
    out: dict[str, Any] = {"python": env.get("python"), "platform": env.get("platform"), "machine": env.get("machine")}
    out.update({f"package {k}": v for k, v in (env.get("packages") or {}).items()})
    git = env.get("git") or {}
    out["git commit"] = git.get("commit")
    out["git dirty"] = git.get("dirty")
    diff = git.get("diff") or ""
    # The uncommitted changes themselves are long: a digest tells whether two runs had the same.
    out["git diff"] = f"{len(diff.splitlines())} lines, sha1 {hashlib.sha1(diff.encode()).hexdigest()[:10]}" if diff else ""
    for key, value in (env.get("device") or {}).items():
        out[f"device {key}"] = value
    if "text_encoder" in env:
        out["text encoder"] = env.get("text_encoder")
    return out


def environment_differences(run_dirs: Sequence[Path]) -> dict[str, list[Any]]:
    envs = [_read_json(d / ENVIRONMENT_FILE) for d in run_dirs]
    facts = [environment_facts(env) for env in envs]
    keys = list(dict.fromkeys(k for f in facts for k in f))
    out = {}
    for key in keys:
        values = [f.get(key) for f in facts]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out[key] = values
    # Runs without a readable record are named, first, even when no run has one: two missing
    # records are not "no differences".
    found = ["recorded" if env is not None else "unreadable" if (d / ENVIRONMENT_FILE).exists() else "missing"
             for d, env in zip(run_dirs, envs)]
    if any(state != "recorded" for state in found):
        out = {ENVIRONMENT_FILE: found, **{k: v for k, v in out.items() if k != ENVIRONMENT_FILE}}
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------
# Rendering


def to_json(diff: RunsDiff) -> str:
    """{"runs": [...], "choices": {group: [options]}, "config": {key: [values]}, "metrics": ...,
    "environment": ..., "source": [...]}; `config` has every differing key, those under a
    differing group too."""
    def clean(values: list[Any]) -> list[Any]:
        return [None if v is ABSENT else json_safe(v) for v in values]

    data = {
        "runs": [display_path(p) for p in diff.runs],
        "choices": {k: clean(v) for k, v in diff.choices.items()},
        "config": {k: clean(v) for k, v in diff.config.items()},
        "metrics": {k: clean(v) for k, v in diff.metrics.items()},
        "environment": {k: clean(v) for k, v in diff.environment.items()},
        "source": diff.sources,
    }
    return json.dumps(data, indent=2) + "\n"


def sections(diff: RunsDiff) -> list[tuple[str, list[list[str]]]]:
    """(title, rows of text cells) for the table and Markdown views; a row is [key, value A, ...]."""
    def rows(values: dict[str, list[Any]]) -> list[list[str]]:
        return [[key, *(cell_text(v) for v in vals)] for key, vals in values.items()]

    config = shown_config(diff)
    out = [
        ("Config differences" if config else "Config: no differences (per-run paths left out)", rows(config)),
        ("Final metrics", rows(diff.metrics)),
        ("Environment differences" if diff.environment else "Environment: no differences", rows(diff.environment)),
    ]
    if any(diff.sources):
        lineage = [["came from", *(source_text(s) or "-" for s in diff.sources)]]
        out.append(("Lineage", lineage))
    return out


def to_markdown(diff: RunsDiff) -> str:
    lines = ["Runs:", ""]
    lines += [f"- **{label}**: `{display_path(p)}`" for label, p in zip(diff.labels, diff.runs)]
    for title, body in sections(diff):
        lines += ["", f"**{title}**"]
        if not body:
            continue
        lines += ["", "| " + " | ".join(["key", *diff.labels]) + " |", "|" + "|".join("---" for _ in range(len(diff.runs) + 1)) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def print_diff(diff: RunsDiff, wide: bool = False) -> None:
    """The sections as tables of one line per key: the key whole, each run's value shortened
    with an ellipsis when the terminal is too narrow for it (`wide`: never)."""
    from expkit.report import TableColumn, print_fitted_table

    for label, path in zip(diff.labels, diff.runs):
        print(f"{label}: {display_path(path)}")
    for title, body in sections(diff):
        print()
        if not body:
            print(title)
            continue
        columns = [TableColumn("key", [row[0] for row in body], whole=True)]
        columns += [TableColumn(label, [row[i + 1] for row in body]) for i, label in enumerate(diff.labels)]
        print_fitted_table(title, columns, wide=wide)
