"""One error family and the exit codes it maps to; only `labctl.cli` prints them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """What a labctl exit status means (0 ok, 1 error, 2 usage, 3 refused, 130 interrupted)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    REFUSED = 3
    INTERRUPTED = 130


class LabctlError(Exception):
    """An error a user can act on: a message, a hint for what to do next, an exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class UsageError(LabctlError):
    """The command line names something that does not exist or does not fit."""

    exit_code = ExitCode.USAGE


class CatalogError(LabctlError):
    """`labs.yaml` (or a team file) does not parse or validate; the message names file:line."""


class UnknownLab(UsageError):
    """A lab name that is not in the catalog."""


class Refused(LabctlError):
    """labctl will not do this (a budget, a target that lacks a feature); exit 3."""

    exit_code = ExitCode.REFUSED


class BudgetRefused(Refused):
    """`up` would take an engineer past the monthly budget."""


class Unsupported(Refused):
    """A target cannot run a step the lab asks for; the message names the step and what it lacks."""


class MissingExtra(LabctlError):
    """A cloud SDK extra is not installed; the hint is the exact pip command."""

    def __init__(self, target: str, module: str) -> None:
        super().__init__(
            f"the {target} target needs the Python package that provides '{module}'",
            hint=f"pip install 'labctl[{target}]'",
        )


class TerraformError(LabctlError):
    """terraform is missing or a terraform command failed."""


class BackendError(LabctlError):
    """A step failed on its target; the message names the step."""


class PartialFailure(LabctlError):
    """Some resources could not be handled; they stay in the ledger for a retry."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
