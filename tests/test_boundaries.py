"""Import boundaries of the gate package, read from the source with ``ast`` (nothing is imported).

- The code that runs on the git host (``gate.git`` and the old-install shims ``gate.hook`` and
  ``gate.postreceive``) must never reach Flask, SQLAlchemy, Werkzeug, WTForms, a Flask extension
  or ``gate.server``: the hook must start fast and must not need the server's dependencies.
- ``gate.audit`` and ``gate.disclosure`` must not reach ``gate.server`` or ``gate.git``.
- ``gate.audit.verify`` is handed to outside parties as one file: it imports only the standard
  library and ``cryptography``, nothing else, not even from gate.
- No two modules import each other, directly or through others (an import cycle): each module
  can be read, and imported, after what it uses. Package ``__init__`` files are left out, as
  re-exporting what a package holds is not a dependency of its modules on each other.

"Reach" is transitive: the graph follows every import of every gate module, and importing a
module runs its parent packages' ``__init__`` too. Every import statement counts, at module level,
inside functions, and under ``if TYPE_CHECKING:``. Type-only imports never run, but a type-only
import of gate.server from gate.git still ties the hook's code to the server's types, and counting
them blocks no typing gate needs today. Imports by name at run time (``importlib``) are not seen;
gate has none.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import gate

SERVER_LIBRARIES = {"flask", "sqlalchemy", "werkzeug", "wtforms"}


@dataclass(frozen=True)
class Import:
    name: str  # absolute dotted name of the module imported
    line: int


@dataclass(frozen=True)
class Violation:
    module: str
    reached: str
    chain: tuple[str, ...]  # "module:line" steps from the module to the import

    def __str__(self) -> str:
        return f"{self.module} reaches {self.reached}: {' -> '.join(self.chain)}"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root`` (the directory holding it), by dotted name."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import statement anywhere in the file, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.append(Import(source, node.lineno))
            # "from pkg import name" imports the submodule pkg.name when there is one.
            found.extend(Import(f"{source}.{alias.name}", node.lineno) for alias in node.names)
    return found


def import_graph(root: Path, package: str) -> dict[str, list[Import]]:
    """Module -> what importing it imports: its own imports (submodule names that are not
    modules dropped), plus its parent package, which Python imports first."""
    modules = module_names(root, package)
    graph: dict[str, list[Import]] = {}
    for module, path in modules.items():
        edges = []
        parent = module.rpartition(".")[0]
        if parent:
            edges.append(Import(parent, 0))
        for item in imports_of(module, path):
            if item.name.split(".")[0] != package:
                edges.append(item)
                continue
            # The longest name that is a module, and every package above it.
            parts = item.name.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            edges.extend(Import(".".join(parts[:n]), item.line) for n in range(1, len(parts) + 1))
        graph[module] = edges
    return graph


def violations(
    graph: dict[str, list[Import]], module: str, forbidden: Callable[[str], bool]
) -> list[Violation]:
    """Every forbidden name that importing ``module`` reaches, each with the first chain found
    (breadth first, so the shortest)."""
    chains: dict[str, tuple[str, ...]] = {module: ()}
    queue = [module]
    found: dict[str, Violation] = {}
    while queue:
        current = queue.pop(0)
        for item in graph[current]:
            step = chains[current] + (f"{current}:{item.line}" if item.line else current,)
            if forbidden(item.name) and item.name not in found:
                found[item.name] = Violation(module, item.name, (*step, item.name))
            if item.name in graph and item.name not in chains:
                chains[item.name] = step
                queue.append(item.name)
    return list(found.values())


def _within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def server_side(package: str) -> Callable[[str], bool]:
    def forbidden(name: str) -> bool:
        top = name.split(".")[0]
        return (
            top in SERVER_LIBRARIES
            or top.startswith("flask_")
            or _within(name, f"{package}.server")
        )

    return forbidden


def server_or_git(package: str) -> Callable[[str], bool]:
    return lambda name: _within(name, f"{package}.server", f"{package}.git")


def not_stdlib_or_cryptography(name: str) -> bool:
    top = name.split(".")[0]
    return top not in sys.stdlib_module_names and top != "cryptography"


def boundary_violations(root: Path, package: str = "gate") -> list[Violation]:
    """Every breach of the three rules in this module's docstring."""
    graph = import_graph(root, package)
    found = []
    for module in sorted(graph):
        if _within(module, f"{package}.git", f"{package}.hook", f"{package}.postreceive"):
            found += violations(graph, module, server_side(package))
        if _within(module, f"{package}.audit", f"{package}.disclosure"):
            found += violations(graph, module, server_or_git(package))
    verifier = f"{package}.audit.verify"
    if verifier in graph:
        direct = {verifier: [i for i in graph[verifier] if i.line]}  # not its parent packages
        found += violations(direct, verifier, not_stdlib_or_cryptography)
    return found


def import_cycles(root: Path, package: str = "gate") -> list[list[str]]:
    """Every set of modules (not packages) that reach each other through their own imports,
    as strongly connected components of the module graph (Tarjan's algorithm), sorted."""
    graph = import_graph(root, package)
    paths = module_names(root, package)
    modules = {m for m, path in paths.items() if path.name != "__init__.py"}
    edges = {
        m: sorted({i.name for i in graph[m] if i.line and i.name in modules and i.name != m})
        for m in sorted(modules)
    }
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in edges:
        if start in order:
            continue
        work = [(start, iter(edges[start]))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in order:
                    order[succ] = low[succ] = len(order)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], order[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


# --- gate itself -------------------------------------------------------------------------------


GATE_ROOT = Path(gate.__file__).resolve().parent.parent


def test_gate_keeps_its_import_boundaries() -> None:
    found = boundary_violations(GATE_ROOT)
    assert not found, "\n".join(map(str, found))


def test_gate_modules_import_no_cycle() -> None:
    assert import_cycles(GATE_ROOT) == []


def test_the_graph_covers_every_gate_module() -> None:
    # A walker that silently saw nothing would pass the test above.
    graph = import_graph(GATE_ROOT, "gate")
    on_disk = {p for p in (GATE_ROOT / "gate").rglob("*.py")}
    assert len(graph) == len(on_disk)
    assert "gate.git.pre_receive" in graph and "gate.server.app" in graph
    reached = {i.name for i in graph["gate.server.app"]}
    assert "flask" in reached  # the server side does import Flask: the walker sees imports


# --- the walker on a package made to break each rule --------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


CLEAN = {
    "gate/__init__.py": "",
    "gate/errors.py": "class GateError(Exception): ...\n",
    "gate/git/__init__.py": "",
    "gate/git/hookish.py": "import pathlib\nfrom gate.errors import GateError\n",
    "gate/server/__init__.py": "import flask\n",
    "gate/server/app.py": "from flask import Flask\nfrom gate.git import hookish\n",
    "gate/audit/__init__.py": "",
    "gate/audit/verify.py": "from __future__ import annotations\nimport json\n"
    "from cryptography.hazmat.primitives import serialization\n",
    "gate/disclosure/__init__.py": "",
    "gate/disclosure/compute.py": "import json\n",
}


def test_walker_passes_a_package_that_keeps_the_rules(tmp_path: Path) -> None:
    _write(tmp_path, CLEAN)
    assert boundary_violations(tmp_path) == []


@pytest.mark.parametrize(
    ("files", "module", "reached"),
    [
        pytest.param(
            {"gate/git/hookish.py": "def late():\n    import sqlalchemy.orm\n"},
            "gate.git.hookish",
            "sqlalchemy.orm",
            id="git-imports-sqlalchemy-inside-a-function",
        ),
        pytest.param(
            {
                "gate/git/hookish.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from werkzeug import Response\n"
            },
            "gate.git.hookish",
            "werkzeug",
            id="git-imports-werkzeug-for-types-only",
        ),
        pytest.param(
            {"gate/git/hookish.py": "import flask_login\n"},
            "gate.git.hookish",
            "flask_login",
            id="git-imports-a-flask-extension",
        ),
        pytest.param(
            {"gate/errors.py": "import wtforms\n"},
            "gate.git.hookish",
            "wtforms",
            id="git-reaches-wtforms-through-another-gate-module",
        ),
        pytest.param(
            {"gate/git/__init__.py": "from gate.server import app\n"},
            "gate.git.hookish",
            "gate.server",
            id="git-reaches-the-server-through-its-package-init",
        ),
        pytest.param(
            {"gate/git/hookish.py": "from ..server.app import Flask\n"},
            "gate.git.hookish",
            "gate.server.app",
            id="git-imports-the-server-relatively",
        ),
        pytest.param(
            {"gate/audit/verify.py": "from gate.git import hookish\n"},
            "gate.audit.verify",
            "gate.git",
            id="audit-imports-git",
        ),
        pytest.param(
            {
                "gate/disclosure/compute.py": "import gate.errors\n",
                "gate/errors.py": "import gate.server.app\n",
            },
            "gate.disclosure.compute",
            "gate.server.app",
            id="disclosure-reaches-the-server-through-another-gate-module",
        ),
        pytest.param(
            {"gate/audit/verify.py": "import requests\n"},
            "gate.audit.verify",
            "requests",
            id="verifier-imports-a-third-party-library",
        ),
        pytest.param(
            {"gate/audit/verify.py": "def f():\n    from gate.errors import GateError\n"},
            "gate.audit.verify",
            "gate.errors",
            id="verifier-imports-gate",
        ),
    ],
)
def test_walker_finds_each_kind_of_breach(
    tmp_path: Path, files: dict[str, str], module: str, reached: str
) -> None:
    _write(tmp_path, {**CLEAN, **files})
    found = boundary_violations(tmp_path)
    assert (module, reached) in {(v.module, v.reached) for v in found}, found


def test_a_breach_names_the_chain_that_leads_to_it(tmp_path: Path) -> None:
    _write(tmp_path, {**CLEAN, "gate/errors.py": "\n\nimport flask\n"})
    found = {str(v) for v in boundary_violations(tmp_path) if v.module == "gate.git.hookish"}
    assert found == {"gate.git.hookish reaches flask: gate.git.hookish:2 -> gate.errors:3 -> flask"}


def test_cycle_finder_names_each_cycle_and_nothing_else(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            **CLEAN,
            "gate/a.py": "from gate import b\n",
            "gate/b.py": "def late():\n    from gate.c import x\n",
            "gate/c.py": "import gate.a\nimport gate.errors\n",
            "gate/d.py": "from gate.e import y\n",
            "gate/e.py": "from . import d\n",
            "gate/f.py": "import gate.a\n",  # reaches the cycle, is not in it
            "gate/git/__init__.py": "from gate.git import hookish\n",  # a package: not counted
        },
    )
    assert import_cycles(tmp_path) == [["gate.a", "gate.b", "gate.c"], ["gate.d", "gate.e"]]
    _write(tmp_path, {"gate/c.py": "import gate.errors\n", "gate/e.py": ""})
    assert import_cycles(tmp_path) == []
