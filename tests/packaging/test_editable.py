"""The shadowing check in the development install (`pip install -e .`, as `make install` does).

There the layer packages come from a finder that setuptools appends to sys.meta_path, so it is
asked only after every sys.path entry: even a bare directory named like a layer (a namespace
package, no __init__.py) in a script's directory wins. The check must accept the finder's packages
and refuse such a directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.packaging.isolated import run, succeeded

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the development environment running these tests


def test_the_development_install_passes_its_own_succeeded(tmp_path):
    # From an empty directory, so that the checkout is reached through the install, not the cwd.
    probe = "import sessionauth, domain, entrypoints; print(domain.__file__, entrypoints.__file__)"
    assert succeeded(run(PYTHON, "-c", probe, cwd=tmp_path)).split() == [
        str(ROOT / "domain" / "__init__.py"),
        str(ROOT / "entrypoints" / "__init__.py"),
    ]


def test_a_bare_directory_named_like_a_layer_is_reported(tmp_path):
    (tmp_path / "application").mkdir()
    (tmp_path / "main.py").write_text("import sessionauth\n")

    result = run(PYTHON, "main.py", cwd=tmp_path)

    assert result.returncode != 0
    assert (
        "ImportError: sessionauth: package 'application' is shadowed: it was found at "
        f"{tmp_path / 'application'}, but sessionauth's own 'application' is at "
        f"{ROOT / 'application'}."
    ) in result.stderr
