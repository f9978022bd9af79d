"""Progress for slow work, on stderr only, so `--json` on stdout stays clean.

On a terminal: spinners and bars. Anywhere else (CI logs, `2>file`): one plain line per finished
step with a readable duration, no spinner frames. Log records of the libraries a step uses
(MLflow, py4j, Optuna...) go to the lab's log file (`log_to`), not between the progress lines.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# libraries that log to stderr on their own; their records go to the lab's log file instead
THIRD_PARTY_LOGGERS = ("mlflow", "py4j", "pyspark", "optuna", "alembic", "urllib3", "botocore",
                       "boto3", "google", "databricks", "sagemaker", "werkzeug")  # fmt: skip


class Reporter:
    """Silent reporter (tests, --quiet); `RichReporter` draws spinners and bars on stderr."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        yield Task()


class Task:
    """A unit of slow work: advance it, or change what it says."""

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        pass


class RichReporter(Reporter):
    def __init__(self, console: Any) -> None:
        self.console = console

    def info(self, message: str) -> None:
        self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        if not self.console.is_terminal:
            with self._plain_task(description) as task:
                yield task
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task_id = progress.add_task(description, total=total)
            yield _RichTask(progress, task_id)
            progress.update(task_id, completed=total if total is not None else 1, total=total or 1)

    @contextmanager
    def _plain_task(self, description: str) -> Iterator[Task]:
        """One line when the step ends: what, how long, and whether it failed."""
        start = time.monotonic()
        try:
            yield Task()
        except BaseException:
            self.console.print(f"{description}: failed after {duration(time.monotonic() - start)}",
                               markup=False, highlight=False, soft_wrap=True)  # fmt: skip
            raise
        self.console.print(f"{description}: done in {duration(time.monotonic() - start)}",
                           markup=False, highlight=False, soft_wrap=True)  # fmt: skip


def duration(seconds: float) -> str:
    """'0.4s', '12s', '3m05s', '1h02m'."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Send log records of labctl's libraries to `path` (appended) while the block runs, instead
    of the terminal: a root file handler, the libraries' own stderr handlers set aside, and
    MLflow told not to install one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved_level, saved_env = root.level, os.environ.get("MLFLOW_CONFIGURE_LOGGING")
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    root.addHandler(handler)
    # a library that configured itself already may not propagate to the root (MLflow does that)
    isolated = [logging.getLogger(n) for n in THIRD_PARTY_LOGGERS]
    isolated = [lg for lg in isolated if not lg.propagate]
    for lg in isolated:
        lg.addHandler(handler)
    root.setLevel(min(saved_level, logging.INFO) if saved_level else logging.INFO)
    muted = _Muted()
    try:
        yield
    finally:
        muted.restore()
        for lg in isolated:
            lg.removeHandler(handler)
        root.removeHandler(handler)
        root.setLevel(saved_level)
        handler.close()
        if saved_env is None:
            os.environ.pop("MLFLOW_CONFIGURE_LOGGING", None)
        else:
            os.environ["MLFLOW_CONFIGURE_LOGGING"] = saved_env


class _Muted(logging.Filter):
    """A filter on stderr stream handlers (the libraries' own, and logging's last resort) that
    keeps records of THIRD_PARTY_LOGGERS off the terminal; they still reach the file."""

    def __init__(self) -> None:
        super().__init__()
        self.patched: list[logging.Handler] = []
        self._orig_add = logging.Logger.addHandler
        muted = self

        def add(logger: logging.Logger, handler: logging.Handler) -> None:
            muted._mute(handler)
            muted._orig_add(logger, handler)

        logging.Logger.addHandler = add  # type: ignore[method-assign]
        for name in THIRD_PARTY_LOGGERS:
            for handler in logging.getLogger(name).handlers:
                self._mute(handler)
        if logging.lastResort is not None:
            self._mute(logging.lastResort)

    def _mute(self, handler: logging.Handler) -> None:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.addFilter(self)
            self.patched.append(handler)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] not in THIRD_PARTY_LOGGERS

    def restore(self) -> None:
        logging.Logger.addHandler = self._orig_add  # type: ignore[method-assign]
        for handler in self.patched:
            handler.removeFilter(self)


class _RichTask(Task):
    def __init__(self, progress: Any, task_id: Any) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        if description is not None:
            self.progress.update(self.task_id, advance=amount, description=description)
        else:
            self.progress.advance(self.task_id, amount)
