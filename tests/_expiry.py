"""Evaluate a provider-free Terraform module (`expiry`, `quality`) with Terraform itself.

The cloud modules cannot be planned offline (no provider binary), so what their expiry resources
carry (schedule expressions, request payloads, policies) is computed in a nested module that
needs no provider: these tests apply that module for real and read its outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import _schema

from labctl import terraform

MODULES = Path(__file__).resolve().parents[1] / "terraform" / "modules"


_DONE: dict[str, str] = {}  # inputs -> outputs (JSON): each distinct call applies once a session


def evaluate(target: str, work: Path, module: str = "expiry", **inputs: Any) -> dict[str, Any]:
    """Apply terraform/modules/<target>/<module> (default `expiry`) with `inputs` (None = not
    given) in `work`; its outputs (paths in them are relative to terraform/modules/<target>)."""
    key = json.dumps([target, module, inputs], sort_keys=True)
    if key not in _DONE:
        _DONE[key] = json.dumps(_apply(target, work, module, inputs))
    return json.loads(_DONE[key])


def _apply(target: str, work: Path, module: str, inputs: dict[str, Any]) -> dict[str, Any]:
    source = MODULES / target / module
    shutil.copytree(source, work / module)
    given = {k: v for k, v in inputs.items() if v is not None}
    doc = {
        "module": {module: {"source": f"./{module}", **given}},
        "output": {
            name: {"value": f"${{module.{module}.{name}}}"}
            for name in sorted(_schema.module_outputs(source))
        },
    }
    (work / terraform.ROOT_FILE).write_text(json.dumps(doc))
    stack = terraform.Stack(work, offline_plugins=False)
    stack.init()
    return stack.apply()


def resources(target: str, module: str = "expiry") -> dict[str, dict[str, Any]]:
    """`type.name` -> body of each resource of terraform/modules/<target>/<module>.tf
    (python-hcl2: expressions are `${...}` strings, string literals keep their quotes)."""
    found = {}
    for entry in _schema.parse_hcl(MODULES / target / f"{module}.tf").get("resource", []):
        for label, named in entry.items():
            for name, body in named.items():
                if not name.startswith("__"):
                    found[f"{_schema.unquote(label)}.{_schema.unquote(name)}"] = body
    return found


def resource(target: str, type_name: str) -> dict[str, Any]:
    """The body of `resource "<type_name>" "expiry"` in the target's expiry.tf."""
    return resources(target)[f"{type_name}.expiry"]
