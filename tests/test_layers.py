"""The package's layers stay as pyproject.toml's [tool.importlinter] contract draws them, and no
module imports another that (directly or not) imports it back: a cycle or an import that goes up
fails here, naming the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_no_module_imports_a_layer_above_it():
    # Function-level imports count too: grimp reads every import statement. In a process of its
    # own: import-linter sets up logging of its own, which would hide other tests' log records.
    code = f"import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_no_import_cycle():
    graph = grimp.build_graph("expkit", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported == "expkit" or importer == "expkit":
                continue  # the package's lazy __getattr__ names the API; it is no module's dependency
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
