"""The package's layers stay as pyproject.toml's [tool.importlinter] contract draws them, and no
module imports another that (directly or not) imports it back: a cycle or an import that goes up
fails here, naming the chain."""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_no_module_imports_a_layer_above_it():
    # Function-level imports count too: grimp reads every import statement.
    assert lint_imports(config_filename=str(PYPROJECT)) == 0, "see the broken contract printed above"


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
