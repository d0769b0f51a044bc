"""The scenario PKI keeps its CA key in a private temp folder that does not outlive the process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from scenarios.pki import Pki
from tests.conftest import this_checkout

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


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


def test_a_scenario_run_ended_by_sigterm_leaves_no_ca_key_or_scratch_folder(tmp_path: Path) -> None:
    """`timeout` or a cancelled CI job sends SIGTERM: the run ends (143) as an exit does, so the PKI
    folder with its CA key and the run's scratch folders go with it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**this_checkout(), "TMPDIR": str(scratch)}
    command = [sys.executable, "-m", "careplan_cli.main", "scenarios", "run", str(LIBRARY)]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        deadline = time.monotonic() + 60
        while not list(scratch.glob("careplan-scenarios-pki-*/ca")) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        assert list(scratch.glob("careplan-scenarios-pki-*/ca")), "the run made its PKI"
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert list(scratch.iterdir()) == []
