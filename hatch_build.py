"""Hatchling build hook: compile expkit's C text encoder (src/expkit/text/_basic_english.c).

setuptools' `build_ext` does the compiling, so compiler and flags are the platform's usual ones
for Python extensions. Without a working C compiler the build still succeeds with a warning, and
expkit runs on the pure-Python encoder (same results, slower; see expkit.text.encode).
An editable install puts the compiled module next to its source in src/ (git-ignored); a wheel
gets it through force_include and a platform tag.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "expkit.text._basic_english"
SOURCE = "src/expkit/text/_basic_english.c"


def compile_extension(root: Path, out_dir: Path) -> Path:
    """Compile the extension into `out_dir` and return the path of the built module."""
    from setuptools import Distribution, Extension

    dist = Distribution({"name": "expkit", "ext_modules": [Extension(EXTENSION, [str(root / SOURCE)])]})
    build_ext = dist.get_command_obj("build_ext")
    build_ext.build_lib = str(out_dir / "lib")
    build_ext.build_temp = str(out_dir / "temp")
    build_ext.ensure_finalized()
    build_ext.run()
    return Path(build_ext.get_ext_fullpath(EXTENSION))


class CExtensionBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        self._tmp = Path(tempfile.mkdtemp(prefix="expkit-build-"))
        try:
            built = compile_extension(root, self._tmp)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to pure Python
            self.app.display_warning(
                f"expkit: could not compile the C text encoder {SOURCE} ({type(err).__name__}: {err}). "
                "expkit will use its pure-Python encoder: identical results, several times slower "
                "tokenizing. Install a C compiler and the Python headers, then reinstall, to get it."
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        relative = Path(*EXTENSION.split(".")[:-1]) / built.name
        if version == "editable":
            shutil.copy2(built, root / "src" / relative)
        else:
            build_data["force_include"][str(built)] = str(relative)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if hasattr(self, "_tmp"):
            shutil.rmtree(self._tmp, ignore_errors=True)
