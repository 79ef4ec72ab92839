"""The built wheel, installed into a fresh venv: `import sessionauth` gives what it promises, and
beside an application's own `domain` package both the import and the `sessionauth` command fail
with the shadowing ImportError instead of running the wrong code.

Offline and quick: the wheel is built with this environment's setuptools (no build isolation),
installed without dependencies, and the fresh venv sees this environment's dependencies through
a .pth line naming its site-packages. A plain path line adds only that directory: the .pth files
in it are not run, so the editable install of this checkout (a finder that its own .pth file
installs) stays out, and `domain` can come only from the wheel. The fixture checks that.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

import application
from tests.packaging.isolated import run, succeeded

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sessionauth", "domain", "application", "adapters", "entrypoints")
SHADOWED = "package 'domain' is shadowed"
FINDABLE = (
    "import importlib.util, json, sys; "
    "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in sys.argv[1:]}))"
)


@dataclass(frozen=True)
class Venv:
    python: Path
    command: Path  # the `sessionauth` console script
    site_packages: Path


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy, because setuptools writes build/ and *.egg-info into the tree it builds.
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    dist = tmp / "dist"
    succeeded(
        run(
            sys.executable,
            *("-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"),
            *("--wheel-dir", dist, source),
            cwd=tmp,
        )
    )
    (wheel,) = dist.glob("sessionauth-*.whl")

    env = tmp / "venv"
    succeeded(run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp))
    python = env / "bin" / "python"
    site_packages = Path(
        succeeded(
            run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp)
        ).strip()
    )
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages / "dev-dependencies.pth").write_text(
        "".join(f"{p}\n" for p in sorted(dependencies))
    )
    visible = succeeded(
        run(
            python,
            "-c",
            FINDABLE,
            *PACKAGES,
            "fastapi",
            cwd=tmp,
        )
    )
    assert json.loads(visible) == {**dict.fromkeys(PACKAGES, False), "fastapi": True}, (
        "before the wheel is installed, the fresh venv must see the dependencies and none of "
        "our packages (has the editable install leaked through the .pth line?)"
    )

    succeeded(
        run(
            sys.executable,
            *("-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index"),
            wheel,
            cwd=tmp,
        )
    )
    return Venv(python=python, command=env / "bin" / "sessionauth", site_packages=site_packages)


PROBE = """
import json, sys
import sessionauth
report = {
    "fastapi_imported_by_import": "fastapi" in sys.modules,
    "all": sessionauth.__all__,
    "missing": [n for n in sessionauth.__all__ if getattr(sessionauth, n, None) is None],
    "session_auth": sessionauth.SessionAuth.__module__ + "." + sessionauth.SessionAuth.__name__,
    "files": {n: sys.modules[n].__file__ for n in %r},
}
print(json.dumps(report))
"""


def test_import_sessionauth_gives_the_embedding_api_and_the_use_cases(venv, tmp_path):
    report = json.loads(succeeded(run(venv.python, "-c", PROBE % (PACKAGES,), cwd=tmp_path)))

    assert report["files"] == {
        name: str(venv.site_packages / name / "__init__.py") for name in PACKAGES
    }
    promised = {"SessionAuth", "CurrentUser", "Settings", *application.__all__}
    assert promised <= set(report["all"])
    assert report["missing"] == []
    assert report["session_auth"] == "entrypoints.http.embedding.SessionAuth"
    # The web stack loads when SessionAuth is first used, not for code that runs use-cases only.
    assert report["fastapi_imported_by_import"] is False


def test_the_command_runs_from_the_wheel(venv, tmp_path):
    assert "serve" in succeeded(run(venv.command, "--help", cwd=tmp_path))


@pytest.fixture
def app_with_own_domain(tmp_path: Path) -> Path:
    """An application's directory holding a `domain` package of its own, and a main script."""
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "__init__.py").write_text('"""The application\'s own domain."""\n')
    (tmp_path / "main.py").write_text("import sessionauth\n")
    return tmp_path


def assert_shadowing_reported(
    result: subprocess.CompletedProcess[str], app: Path, venv: Venv
) -> None:
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"ImportError: sessionauth: {SHADOWED}"), result.stderr
    assert f"found at {app / 'domain'}," in message
    assert f"'domain' is at {venv.site_packages / 'domain'}." in message
    assert "Rename your package" in message


def test_import_beside_an_own_domain_package_fails_saying_so(venv, app_with_own_domain):
    # A script's directory comes first on sys.path, ahead of site-packages.
    result = run(venv.python, "main.py", cwd=app_with_own_domain)
    assert_shadowing_reported(result, app_with_own_domain, venv)


def test_the_command_beside_an_own_domain_package_fails_saying_so(venv, app_with_own_domain):
    # A console script's first sys.path entry is its own bin/; PYTHONPATH is how an
    # application's directory gets ahead of site-packages for it. `serve` stops at the import,
    # before it would listen.
    result = run(
        venv.command,
        "serve",
        "--port",
        "0",
        cwd=app_with_own_domain,
        PYTHONPATH=str(app_with_own_domain),
    )
    assert_shadowing_reported(result, app_with_own_domain, venv)
