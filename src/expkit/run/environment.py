"""`environment.json`: what a run needs to be reproduced (command, versions, platform, git state)."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("expkit", "torch", "pytorch-lightning", "hydra-core", "omegaconf", "numpy", "torchmetrics")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(source_dir: Path) -> dict[str, Any] | None:
    """Commit and uncommitted diff of the checkout `source_dir` belongs to, if it is one."""
    top = _git(["rev-parse", "--show-toplevel"], source_dir)
    if top is None:
        return None
    top_dir = Path(top.strip())
    commit = (_git(["rev-parse", "HEAD"], top_dir) or "").strip() or None
    diff = _git(["diff", "HEAD"], top_dir) if commit else None
    return {"commit": commit, "dirty": bool(diff), "diff": diff or ""}


def environment_record() -> dict[str, Any]:
    import torch

    from expkit.text.encode import ENCODER

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = {"cuda_available": torch.cuda.is_available(), "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        device["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        device["cuda_version"] = torch.version.cuda
    return {
        "command": list(getattr(sys, "orig_argv", sys.argv)),
        "python": sys.version.split()[0],
        "packages": versions,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "device": device,
        "text_encoder": ENCODER,
        "git": git_state(Path(__file__).resolve().parent),
    }
