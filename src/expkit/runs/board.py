"""Which runs `expkit board` shows, and the short name each gets in TensorBoard.

TensorBoard names a run by its path under `--logdir`, and cuts long names in its run list and
legends (`...optimizer.lr=0.05,trai`). Here each run is named by what tells it apart from the
others shown: the parameters that vary among them (a config group by its option name,
`model=mlp lr=0.05`), else its folder name. TensorBoard is given a folder holding one folder per
run under that name, with links to the run's event files: `--logdir_spec name:path` would need
no `,` in any path (Hydra's sweep job folders have them) and shows each name with a `/.` after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from expkit.errors import ExpkitError
from expkit.runs.collect import RunRow, find_run_dirs, natural_key, read_run, varying_keys


def runs_to_show(paths: Sequence[str | Path]) -> list[Path]:
    """The run folders at or under each of `paths`, each once, in path order; an ExpkitError
    naming a path that does not exist or holds no run."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise ExpkitError(f"{path} does not exist. Give run folders, sweep folders or an outputs folder "
                              "(see `expkit runs`).")
        runs = find_run_dirs(path)
        if not runs:
            raise ExpkitError(f"No runs under {path}: no folder there holds a metrics.json or .hydra/overrides.yaml. "
                              "Give run folders, sweep folders or an outputs folder (see `expkit runs`).")
        for run in runs:
            found.setdefault(run.resolve(), None)
    return sorted(found, key=natural_key)


def short_value(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def run_names(rows: Sequence[RunRow]) -> list[str]:
    """One name per row, unique: the varying parameters (`model=mlp optimizer.lr=0.05`), led by
    the experiment when the rows hold several; the folder name where that says nothing or
    repeats another row's name."""
    keys = varying_keys(rows)
    experiments = {row.experiment for row in rows}
    names = []
    for row in rows:
        parts = [f"{key}={short_value(row.param(key))}" for key in keys if row.param(key) is not None]
        if len(experiments) > 1:
            parts.insert(0, row.experiment or "?")
        names.append(" ".join(parts))
    taken: dict[str, int] = {}
    for name in names:
        taken[name] = taken.get(name, 0) + 1
    return [name if name and taken[name] == 1 and len(rows) > 1 else row.run_dir.name
            for name, row in zip(names, rows)]


def folder_name(name: str) -> str:
    """`name` as one folder name: a `/` in a value (`monitor.metric=val/mae`) would nest it."""
    return name.replace("/", "∕").lstrip(".") or "run"


def link_runs(paths: Sequence[str | Path], board_dir: Path) -> list[tuple[str, Path]]:
    """A folder per run shown, in `board_dir`, named by the run's short name and holding links to
    its event files (TensorBoard's logdir); returns [(name, run folder), ...]."""
    rows = [read_run(run) for run in runs_to_show(paths)]
    shown = []
    for name, row in zip(run_names(rows), rows):
        folder = board_dir / folder_name(name)
        folder.mkdir()
        for events in sorted(row.run_dir.glob("events.out.tfevents.*")):
            os.symlink(events, folder / events.name)
        shown.append((folder.name, row.run_dir))
    return shown
