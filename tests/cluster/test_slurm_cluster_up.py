"""The test cluster itself: two nodes, no accounting."""

from __future__ import annotations

import subprocess

import pytest


@pytest.mark.slow
def test_two_nodes_take_jobs(slurm_cluster):
    out = subprocess.run(["srun", "-p", slurm_cluster, "-N", "2", "-n", "2", "printenv", "SLURMD_NODENAME"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == ["n1", "n2"]
