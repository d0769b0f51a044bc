"""The code stays as STYLE.md asks: ruff's rule sets everywhere, mypy strict on the pure core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff() -> None:
    done = _run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_on_the_domain_core() -> None:
    done = _run("mypy", "--no-incremental")  # packages = ["careplan"], strict = true (pyproject)
    assert done.returncode == 0, done.stdout + done.stderr
