"""A small interpreter for the Google Cloud Workflows syntax labctl's expiry workflow uses.

It runs the workflow's YAML as Workflows would: steps in order with `next` jumps, `assign`
(including `map[key]: value`), `call` of a subworkflow or of a connector, `for` (value, index,
in; `continue`/`break`), `switch` (condition with next/assign), `try`/`except` (`as`), `raise`
and `return`. Expressions `${...}` are evaluated as Python after mapping the few Workflows
functions used (`default`, `len`, `map.get`, `list.concat`); maps read with `.key` as Workflows
does. Connector calls go to a handler the test gives (a fake service), so a test sees every
request the workflow makes, in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class AttrMap(dict):
    """A Workflows map: `m.key` and `m["key"]` both read it (a missing key is a KeyError)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise KeyError(key) from None


class WorkflowError(Exception):
    """An error raised in the workflow (a connector's HTTP error is a map with a `code`)."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = wrap(value)


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return AttrMap({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def _map_get(value: Any, keys: Any) -> Any:
    for key in keys if isinstance(keys, list) else [keys]:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


FUNCTIONS = {
    "_default": lambda value, fallback: fallback if value is None else value,
    "_map_get": _map_get,
    "_list_concat": lambda items, item: [*items, item],
    "len": len,
}
TRANSLATE = [
    ("map.get(", "_map_get("),
    ("list.concat(", "_list_concat("),
    ("default(", "_default("),
]
EXPRESSION = re.compile(r"^\$\{(.*)\}$", re.S)


class Jump(Exception):
    def __init__(self, target: str) -> None:
        self.target = target


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Workflow:
    def __init__(self, program: dict[str, Any], connector: Callable[[str, dict], Any]) -> None:
        self.program = program
        self.connector = connector

    def run(self, argument: Any) -> Any:
        return self._subworkflow("main", [wrap(argument)])

    def _subworkflow(self, name: str, values: list[Any]) -> Any:
        body = self.program[name]
        scope = dict(zip(body.get("params", []), values, strict=True))
        try:
            self._steps(body["steps"], scope)
        except Return as done:
            return done.value
        return None

    def _steps(self, steps: list[dict[str, Any]], scope: dict[str, Any]) -> None:
        names = [next(iter(step)) for step in steps]
        i = 0
        while i < len(steps):
            try:
                self._step(steps[i][names[i]], scope)
            except Jump as jump:
                if jump.target in names:
                    i = names.index(jump.target)
                    continue
                raise  # continue / break / end: for the enclosing loop or workflow
            i += 1

    def _step(self, body: dict[str, Any], scope: dict[str, Any]) -> None:
        if "assign" in body:
            self._assign(body["assign"], scope)
        if "call" in body:
            args = self.value(body.get("args", {}), scope)
            if body["call"] in self.program:
                params = self.program[body["call"]].get("params", [])
                result = self._subworkflow(body["call"], [args[p] for p in params])
            else:
                result = wrap(self.connector(body["call"], args))
            if "result" in body:
                scope[body["result"]] = result
        if "for" in body:
            self._for(body["for"], scope)
        if "switch" in body:
            for case in body["switch"]:
                if self.value(case["condition"], scope):
                    if "assign" in case:
                        self._assign(case["assign"], scope)
                    if "next" in case:
                        raise Jump(case["next"])
                    break
        if "try" in body:
            try:
                self._step(body["try"], scope)
            except WorkflowError as error:
                handler = body["except"]
                scope[handler["as"]] = error.value
                self._steps(handler["steps"], scope)
        if "raise" in body:
            raise WorkflowError(self.value(body["raise"], scope))
        if "return" in body:
            raise Return(self.value(body["return"], scope))
        if "next" in body:
            raise Jump(body["next"])

    def _for(self, loop: dict[str, Any], scope: dict[str, Any]) -> None:
        for i, item in enumerate(self.value(loop["in"], scope)):
            scope[loop["value"]] = item
            if "index" in loop:
                scope[loop["index"]] = i
            try:
                self._steps(loop["steps"], scope)
            except Jump as jump:
                if jump.target == "break":
                    break
                if jump.target != "continue":
                    raise

    def _assign(self, items: list[dict[str, Any]], scope: dict[str, Any]) -> None:
        for item in items:
            [(target, raw)] = item.items()
            value = self.value(raw, scope)
            indexed = re.fullmatch(r"(\w+)\[(.+)\]", target)
            if indexed:
                scope[indexed[1]][self.value("${" + indexed[2] + "}", scope)] = value
            else:
                scope[target] = value

    def value(self, raw: Any, scope: dict[str, Any]) -> Any:
        """A value of the YAML with its expressions evaluated (maps and lists deeply)."""
        if isinstance(raw, dict):
            return AttrMap({k: self.value(v, scope) for k, v in raw.items()})
        if isinstance(raw, list):
            return [self.value(v, scope) for v in raw]
        if isinstance(raw, str) and (match := EXPRESSION.match(raw)):
            text = match[1]
            for workflows, python in TRANSLATE:
                text = text.replace(workflows, python)
            return eval(text, {"__builtins__": {}, **FUNCTIONS}, dict(scope))
        return raw
