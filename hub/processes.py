"""Whether a process of this machine still runs (hub.payloads: the writer of a payload file;
careplan up: the hub named by a data directory's ready file)."""

from __future__ import annotations

import os
from pathlib import Path


def runs(pid: int) -> bool:
    """Whether process `pid` runs. A killed process whose parent died too may stay a zombie (state
    Z) where nothing reaps orphans: it runs no more, though signal 0 still finds it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")  # the state follows the name
