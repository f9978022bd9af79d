"""What the benchmarks share: the labctl executable of the interpreter running them."""

from __future__ import annotations

import sys
from pathlib import Path
from shutil import which


def labctl_bin() -> str:
    """The `labctl` script beside this Python (an unactivated venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("labctl")
    return str(beside) if beside.exists() else which("labctl") or "labctl"
