"""The dependency rule, read from the imports: domain/ sees only the standard library,
application/ only that and domain/, adapters/ never application/ or entrypoints/."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"domain", "application", "adapters", "entrypoints", "sessionauth"}
ALLOWED = {
    "domain": {"domain"},
    "application": {"domain", "application"},
    "adapters": {"domain", "adapters"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_follow_the_dependency_rule(layer):
    offences = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in imported_top_levels(path):
            ours_but_forbidden = name in OURS and name not in ALLOWED[layer]
            outside_stdlib = name not in OURS and name not in sys.stdlib_module_names
            if ours_but_forbidden or (layer != "adapters" and outside_stdlib):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []
