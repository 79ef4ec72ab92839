"""The locks that `make install` and the image install from must still answer pyproject.toml: a
dependency added or a range moved there without `make lock` would otherwise install, and test,
versions that pyproject.toml does not allow, or leave a new dependency out."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
MAKE_LOCK = "pyproject.toml and the locks disagree: run `make lock` (see docs/development.md)"


def pins(lock: str) -> dict[str, set[str]]:
    """Each package's versions in a lock (more than one where markers fork the resolution)."""
    found: dict[str, set[str]] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            found.setdefault(canonicalize_name(match[1]), set()).add(match[2])
    return found


LOCKS = {
    "requirements.lock": PYPROJECT["project"]["dependencies"],
    "requirements-dev.lock": [
        *PYPROJECT["project"]["dependencies"],
        *PYPROJECT["project"]["optional-dependencies"]["dev"],
    ],
    "requirements-build.lock": PYPROJECT["build-system"]["requires"],
}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_is_locked_at_a_version_pyproject_allows(lock):
    locked = pins(lock)
    for line in LOCKS[lock]:
        requirement = Requirement(line)
        versions = locked.get(canonicalize_name(requirement.name), set())
        assert versions, f"{requirement.name} is not in {lock}. {MAKE_LOCK}"
        outside = {v for v in versions if not requirement.specifier.contains(v, prereleases=True)}
        assert not outside, f"{lock} pins {requirement.name} {outside}, not {line}. {MAKE_LOCK}"


def test_a_package_has_the_same_version_in_every_lock():
    runtime, dev, build = (pins(lock) for lock in LOCKS)
    for name, versions in runtime.items():
        assert dev.get(name) == versions, f"{name}: {versions} at run time, {dev.get(name)} in dev"
    for name, versions in build.items():
        if name in dev:
            assert dev[name] == versions, f"{name}: {versions} to build, {dev[name]} in dev"
