"""`.ci/audit.sh`: what it says for each answer pip-audit can give, with a stand-in `pip_audit`
module that writes pip-audit's JSON report (the real one needs the network's advisory data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

FAKE = '''
import json, sys
if "--version" in sys.argv:
    print("pip-audit 0.0 (stand-in)")
    sys.exit(0)
out = sys.argv[sys.argv.index("-o") + 1]
json.dump({REPORT}, open(out, "w"))
print("No known vulnerabilities found", file=sys.stderr)
sys.exit({STATUS})
'''
VULNERABLE = {"dependencies": [
    {"name": "pytorch-lightning", "version": "2.6.1", "vulns": [{"id": "GHSA-qqmf-gpg7-g8gw", "fix_versions": ["2.6.6"]}]},
    {"name": "numpy", "version": "2.3.0", "vulns": []},
]}
CLEAN = {"dependencies": [{"name": "numpy", "version": "2.3.0", "vulns": []}, {"name": "x", "version": "1", "skip_reason": "not on PyPI"}]}
UNREACHABLE = {"dependencies": [{"name": "torch", "version": "2.13.0", "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0)"}]}


def audit(tmp_path: Path, report: dict, status: int, required: bool = False) -> subprocess.CompletedProcess:
    package = tmp_path / "fake" / "pip_audit"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE.replace("{REPORT}", repr(report)).replace("{STATUS}", str(status)))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake"), "AUDIT_REQUIRED": "1" if required else "0"}
    return subprocess.run(["bash", str(REPO / ".ci" / "audit.sh"), sys.executable], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
def test_audit_lists_vulnerable_dependencies_and_fails(tmp_path):
    result = audit(tmp_path, VULNERABLE, 1)
    assert result.returncode == 1, result.stderr
    assert "audit: pytorch-lightning 2.6.1: GHSA-qqmf-gpg7-g8gw (fixed in: 2.6.6)" in result.stdout
    assert "1 of 2 checked dependencies have known vulnerabilities" in result.stderr


@pytest.mark.slow
def test_audit_passes_when_every_reachable_dependency_is_clean(tmp_path):
    result = audit(tmp_path, CLEAN, 0)
    assert result.returncode == 0, result.stderr
    assert "audit: 1 dependencies checked, no known vulnerabilities; 1 skipped (not on PyPI)." in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("required, code", [(False, 0), (True, 2)])
def test_audit_says_nothing_was_audited_when_the_data_is_unreachable(tmp_path, required, code):
    result = audit(tmp_path, UNREACHABLE, 0, required)
    assert result.returncode == code, result.stderr
    assert "No known vulnerabilities found" not in result.stdout + result.stderr
    assert "NOT AUDITED: the vulnerability data could not be reached, so all 1 dependencies were skipped" in result.stderr
