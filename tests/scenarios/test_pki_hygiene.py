"""The scenario PKI keeps its CA key in a private temp folder that does not outlive the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scenarios.pki import Pki


def test_the_process_wide_pki_leaves_no_ca_key_behind() -> None:
    code = "from scenarios.pki import pki; p = pki(); p.foreign; print(p.directory)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    directory = Path(done.stdout.strip())
    assert directory.name.startswith("careplan-scenarios-pki-")
    assert not directory.exists(), "the CA key folder must be removed when the process exits"


def test_a_closed_pki_removes_its_folder() -> None:
    pki = Pki()
    assert (pki.directory / "ca").is_dir()
    pki.close()
    assert not pki.directory.exists()
