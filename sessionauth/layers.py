"""The check that `domain`, `application`, `adapters` and `entrypoints` are sessionauth's own.

Those four generic names are top-level packages of the sessionauth distribution. An application
with a package of the same name earlier on sys.path (its own `domain/` beside its main script, on
PYTHONPATH, or the working directory under `python -m`) would otherwise shadow ours: imports fail
far from the cause, or worse, succeed with the wrong code. Standard library only, and nothing of
the four is imported here, so the check runs before any of them is.

"Ours" is the package in the directory that holds this `sessionauth` package: every way of
installing puts them side by side (a wheel into site-packages, `pip install -e .`'s finder into
the checkout, a checkout on sys.path), and a path needs no co-operation from the impostor, which a
marker attribute would.
"""

import importlib.machinery
import importlib.util
import os

LAYERS = ("domain", "application", "adapters", "entrypoints")


def check_layers() -> None:
    """Raise ImportError if one of the four layer packages resolves anywhere but beside this
    `sessionauth` package; say which, where it was found, where it was expected, and what to do."""
    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in LAYERS:
        expected = os.path.join(home, name)
        # find_spec answers from sys.modules when the package is already imported, and otherwise
        # locates it without running its __init__ (an impostor's code stays unexecuted).
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(
                f"sessionauth: package {name!r} not found (expected at {expected}); "
                "the installation is incomplete: reinstall sessionauth",
                name=name,
            )
        found = _location(spec)
        if not _same_directory(found, expected):
            raise ImportError(
                f"sessionauth: package {name!r} is shadowed: it was found at {found}, but "
                f"sessionauth's own {name!r} is at {expected}. sessionauth installs the top-level "
                "packages domain, application, adapters and entrypoints; a package of the same "
                "name earlier on sys.path (beside your main script, on PYTHONPATH, or the working "
                "directory under `python -m`) hides it. Rename your package, or move it out of "
                "the way on sys.path.",
                name=name,
                path=found,
            )


def _location(spec: importlib.machinery.ModuleSpec) -> str:
    # A package's directory; a namespace package (a directory without __init__.py) may have
    # several, and a plain module has only its file.
    if spec.submodule_search_locations:
        return os.pathsep.join(spec.submodule_search_locations)
    return spec.origin or repr(spec)


def _same_directory(found: str, expected: str) -> bool:
    # The paths as found first, so a tree of symlinks (setuptools' strict editable mode) matches
    # itself; then resolved, for a site-packages reached through a symlinked prefix.
    if os.path.abspath(found) == expected:
        return True
    return os.path.exists(found) and os.path.samefile(found, expected)
