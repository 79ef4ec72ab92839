"""Tests share helpers through helper modules (tests/processes.py, tests/constants.py, ...), never
by importing another test module or a conftest: importing one runs its module-level code and
fixtures a second time under another name, and ties two suites together by accident."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((node.lineno, module))
            # `from tests.unit import conftest` names the module among the imported names
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_no_module_under_tests_imports_a_test_module():
    offences = []
    for path in sorted(TESTS.rglob("*.py")):
        for line, module in imported_modules(ast.parse(path.read_text("utf-8"))):
            if module.startswith(("tests.", ".")) and is_test_module(module):
                offences.append(f"{path.relative_to(TESTS.parent)}:{line} imports {module}")
    assert offences == []


def test_the_check_sees_each_way_of_importing_a_test_module():
    source = (
        "from tests.api.conftest import PASSWORD\n"
        "from tests.unit import conftest\n"
        "import tests.api.test_flow\n"
        "from .test_flow import ISO_Z\n"
        "from tests.constants import PASSWORD\n"
    )
    seen = {m for _, m in imported_modules(ast.parse(source)) if is_test_module(m)}
    assert seen == {
        "tests.api.conftest",
        "tests.unit.conftest",
        "tests.api.test_flow",
        ".test_flow",
    }
