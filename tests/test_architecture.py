"""The package's shape: no import cycle, no dashboard library in the core."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import relphot_core

PACKAGE = Path(relphot_core.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))
            if "migrations" not in path.parts}


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of relphot_core it imports}``, every import counted
    (those inside functions too: a lazy import still ties the two modules),
    except those only for the type checker (``if TYPE_CHECKING:``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if _under_type_checking(node, parents):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # "from . import x" names a module x when there is one, else an attribute of the package
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                           for alias in node.names]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "relphot_core.solve" in graph["relphot_core.factors"]
    assert "relphot_core.fits" in graph["relphot_core.apply"]
    assert "relphot_core.store.engine" in graph["relphot_core.store.api"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_relphot_core():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_only_the_tests_and_benchmarks_import_the_test_data():
    """`relphot_core.testing` (synthetic stores) is no part of the product:
    no other module of the package imports it, and the store's modules no
    longer hold it."""
    graph = import_graph()
    assert "relphot_core.testing.synth" in graph and "relphot_core.store.synth" not in graph
    importers = sorted(name for name, targets in graph.items() if not name.startswith("relphot_core.testing")
                       and any(t.startswith("relphot_core.testing") for t in targets))
    assert importers == []


def test_the_store_modules_take_a_connection_the_store_owns_the_transactions():
    """The `Store` is one class (no mixin parts relying on its private
    connection helpers); only it and the test data reach for transactions."""
    from relphot_core.store import Store

    assert Store.__bases__ == (object,)
    for path in (PACKAGE / "store").glob("*.py"):
        if path.name != "api.py":
            text = path.read_text(encoding="utf-8")
            assert "._read(" not in text and "._write(" not in text and "._writer" not in text, path.name


def test_the_core_imports_no_dashboard_library():
    """Every module of relphot_core, the CLI's parser included, imports
    without Dash, Plotly or Flask (they come with the [dashboard] extra)."""
    code = (
        "import importlib, pkgutil, sys, relphot_core, relphot_core.cli\n"
        "relphot_core.cli.build_parser()\n"
        "for info in pkgutil.walk_packages(relphot_core.__path__, 'relphot_core.'):\n"
        "    if '.migrations' not in info.name and not info.name.endswith('__main__'):\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('dash', 'plotly', 'flask'))}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [["serve"], ["demo"]])
def test_serving_without_the_dashboard_extra_says_what_to_install(command, tmp_path, monkeypatch, capsys):
    from relphot_core.cli import main

    monkeypatch.setitem(sys.modules, "plotly", None)  # as if not installed: find_spec says None
    db = tmp_path / "relphot.db"
    code = main([*command, "--db", str(db)] if command == ["serve"] else [*command, "--dir", str(tmp_path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err == [f"relphot {command[0]}: error: the dashboard needs plotly, not installed: "
                                 "install the [dashboard] extra, e.g. pip install '.[dashboard]' in relphot's "
                                 "directory"]
    assert not db.exists() and not (tmp_path / "relphot.db").exists()  # refused before any work
