"""Running Python processes for the packaging tests, with nothing of this test run's own import
path: what they import is what their interpreter and their working directory give them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def run(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must have succeeded; its output, errors included, if not."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
