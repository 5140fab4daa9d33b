#!/usr/bin/env bash
# CI: report installed dependencies with known vulnerabilities (pip-audit, PyPI's advisory data).
#
#   .ci/audit.sh [PYTHON]      # PYTHON: the environment to audit (default .venv/bin/python)
#
# Exit 0: every dependency was checked and none has a known vulnerability.
# Exit 1: pip-audit found known vulnerabilities (listed), or pip-audit is missing.
# When the advisory data cannot be reached (no network, a mirror without PyPI's per-version JSON),
# pip-audit skips every dependency and would say "No known vulnerabilities found": this script
# says instead that nothing was audited, and exits 0 with a warning, or 2 with AUDIT_REQUIRED=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
if ! "$PY" -m pip_audit --version >/dev/null 2>&1; then
    echo "audit: pip-audit is not installed in $PY's environment; pip install -e '.[test]' installs it." >&2
    exit 1
fi
report="$(mktemp)"
said="$(mktemp)"
trap 'rm -f "$report" "$said"' EXIT
# -l: this environment's own packages; --skip-editable: expkit itself is not on PyPI. Its own
# summary ("No known vulnerabilities found" even when it skipped everything) is replaced below.
set +e
"$PY" -m pip_audit -l --skip-editable --progress-spinner off -f json -o "$report" 2>"$said"
status=$?
set -e
"$PY" - "$report" "$status" "${AUDIT_REQUIRED:-0}" "$said" <<'PYEOF'
import json, sys

path, status, required, said = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
try:
    deps = json.load(open(path))["dependencies"]
except (OSError, ValueError, KeyError):
    print(open(said).read()[-3000:], file=sys.stderr, end="")
    print(f"audit: pip-audit wrote no report (exit {status}); its message is above.", file=sys.stderr)
    sys.exit(1)
checked = [d for d in deps if "skip_reason" not in d]
skipped = [d for d in deps if "skip_reason" in d]
vulnerable = [d for d in checked if d.get("vulns")]
for d in vulnerable:
    for v in d["vulns"]:
        fixed = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
        print(f"audit: {d['name']} {d['version']}: {v['id']} (fixed in: {fixed})")
if vulnerable:
    print(f"audit: {len(vulnerable)} of {len(checked)} checked dependencies have known vulnerabilities.", file=sys.stderr)
    sys.exit(1)
if not checked:
    reason = skipped[0]["skip_reason"] if skipped else "no dependencies listed"
    print(f"audit: NOT AUDITED: the vulnerability data could not be reached, so all {len(skipped)} dependencies "
          f"were skipped (first reason: {reason}).", file=sys.stderr)
    sys.exit(2 if required else 0)
print(f"audit: {len(checked)} dependencies checked, no known vulnerabilities"
      + (f"; {len(skipped)} skipped (not on PyPI)" if skipped else "") + ".")
PYEOF
