"""Progress for slow work, on stderr only, so `--json` on stdout stays clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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


class _RichTask(Task):
    def __init__(self, progress: Any, task_id: Any) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        if description is not None:
            self.progress.update(self.task_id, advance=amount, description=description)
        else:
            self.progress.advance(self.task_id, amount)
