"""expkit: configuration-driven PyTorch experiments (Hydra configs -> Lightning runs).

The Python API (see `expkit.api`): `compose`, `fit`, `load_run`, `reproduce`, `resume`,
`export`, `load_export`. Imported on first use, so that `expkit --help` stays instant.
"""

from __future__ import annotations

from typing import Any

from expkit.version import __version__

__all__ = ["compose", "fit", "load_run", "reproduce", "resume", "export", "load_export", "api"]


def __getattr__(name: str) -> Any:
    if name == "api":
        import importlib

        return importlib.import_module("expkit.api")
    if name in ("compose", "fit", "load_run", "reproduce", "resume"):
        from expkit import api

        return getattr(api, name)
    if name in ("export", "load_export"):
        from expkit import export_folder

        return getattr(export_folder, {"export": "export_run", "load_export": "load_export"}[name])
    raise AttributeError(f"module 'expkit' has no attribute {name!r}")
