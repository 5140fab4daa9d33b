"""Serve the repository's `experiments/` folder as Hydra's `experiment` config group.

Why a ConfigSource plugin: the user fixed the layout (`experiments/` beside `conf/`), while Hydra
names a group after its folder. The alternatives were worse: a symlink `conf/experiment` breaks on
Windows and in wheels, and a ConfigStore registration would load the YAML ourselves and lose
Hydra's file semantics (the `# @package` header, file paths in error messages). This source is
Hydra's own file source with one folder renamed, so experiment files behave exactly like any
other config file.
"""

from __future__ import annotations

import os
from typing import List, Optional

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigResult
from hydra.plugins.search_path_plugin import SearchPathPlugin

GROUP = "experiment"


def _inner(config_path: str) -> Optional[str]:
    """Map `experiment/<name>` to `<name>` in the folder; None for paths outside the group."""
    if config_path == GROUP:
        return ""
    if config_path.startswith(GROUP + "/"):
        return config_path[len(GROUP) + 1 :]
    return None


class ExperimentsConfigSource(FileConfigSource):
    """A file source rooted at `experiments/` that exposes it as the `experiment` group."""

    @staticmethod
    def scheme() -> str:
        return "expkit-experiments"

    def load_config(self, config_path: str) -> ConfigResult:
        inner = _inner(config_path)
        return super().load_config(inner if inner is not None else config_path)

    def is_group(self, config_path: str) -> bool:
        if config_path == "":
            return True
        inner = _inner(config_path)
        return inner is not None and super().is_group(inner)

    def is_config(self, config_path: str) -> bool:
        inner = _inner(config_path)
        return bool(inner) and super().is_config(inner)

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
        if config_path == "":
            return [GROUP] if results_filter in (None, ObjectType.GROUP) else []
        inner = _inner(config_path)
        if inner is None or not super().is_group(inner):
            return []
        folder = os.path.join(self.path, inner)
        names = set()
        for entry in os.listdir(folder):
            full = os.path.join(folder, entry)
            if os.path.isdir(full) and results_filter in (None, ObjectType.GROUP):
                names.add(entry)
            elif entry.endswith(".yaml") and results_filter in (None, ObjectType.CONFIG):
                names.add(entry[: -len(".yaml")])
        return sorted(names)


class ExpkitSearchPathPlugin(SearchPathPlugin):
    """Adds `experiments/` (as the `experiment` group) to every expkit Hydra run."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from expkit.config_files import experiments_dir

        search_path.append(provider="expkit-experiments", path=f"expkit-experiments://{experiments_dir()}")
