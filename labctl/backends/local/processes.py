"""The local target's processes: found by the token in their command line, stopped by group.

Every process labctl starts here carries `-X labctl_token=<token>` in its argv, so `labctl down`
finds it even when `labctl up` was killed before it could record the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any


def live_status(resource: Any) -> str:
    """A local resource's state from its process (a ledger `Resource` or a status row)."""
    attrs = resource.attrs or {}
    if resource.kind == "service" and attrs.get("token"):  # a local API's process
        return "InService" if find_pids(attrs["token"]) else "Stopped (process gone)"
    if resource.kind in ("endpoint", "training-job") and attrs.get("token"):
        alive = bool(find_pids(attrs["token"]))
        if resource.kind == "endpoint":
            return "InService" if alive else "Stopped (process gone)"
        return "InProgress" if alive else resource.status
    return resource.status


def find_pids(token: str) -> list[int]:
    """Pids of this user's processes whose command line carries `token`."""
    needle = f"labctl_token={token}".encode()
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline.split(b"\0"):
                pids.append(int(entry.name))
    return pids


def terminate(pid: int | None, token: str | None, grace: float = 5.0) -> None:
    """SIGTERM then SIGKILL the process (group) with this token; already gone is fine.

    Design choice: a recorded pid is trusted only if its command line still carries the token,
    so a recycled pid is never killed.
    """
    pids = set(find_pids(token)) if token else set()
    if pid and (token is None or pid in pids or not Path("/proc").is_dir()):
        pids.add(pid)
    for p in pids:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        time.sleep(0.02)
    for p in pids:
        _signal(p, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # our children lead their own session/group
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); /proc tells; a process gone meanwhile is not alive
        return ") Z" not in Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc").is_dir()
    except OSError:
        return True


def tail_file(path: Path, lines: int = 8) -> str:
    """The last `lines` lines of a log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
