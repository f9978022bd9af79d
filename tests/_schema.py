"""Check Terraform configuration against provider schema subsets, offline.

The schemas are the files of `../shared/provider-schemas/` (see its README): the per-provider
part of `terraform providers schema -json` for the types labctl uses. Two inputs are checked:

* module `.tf` files, parsed with python-hcl2 (8.x: labels keep their quotes, blocks are lists of
  dicts marked `__is_block__`, expressions are `${...}` strings);
* the root `main.tf.json` labctl renders (Terraform JSON syntax: a block is an object, or a list
  of objects, under its name; the schema says which names are blocks).

Module calls (the root's, and a module's own `module` blocks) are checked against the called
module's variables (unknown and missing required inputs) and each `module.<name>.<output>`
reference against its outputs.

Every resource, data source, provider and backend body is walked against its schema: unknown
arguments and blocks, read-only (computed-only) arguments, attributes written as blocks and back,
missing required arguments and blocks, too many or too few blocks, deprecated arguments, and
references (`data.aws_region.current.name`) to attributes that do not exist or are deprecated.
Meta-arguments (count, for_each, depends_on, lifecycle, provider, provisioner, connection) are
skipped; `dynamic "x"` blocks are checked as `x` blocks whose number is unknown. Expressions are
not evaluated: an unknown value is fine.

A type (or provider, or backend) that no schema file covers is not silently passed: it is
collected in `Report.unchecked`, for the caller to compare with an allow-list.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

META = {"count", "for_each", "provider", "depends_on", "lifecycle", "provisioner", "connection"}
FILES = {"aws": "aws.json", "google": "google.json", "databricks": "databricks.json"}
# resource and data source types are named <provider>_<...>
PREFIXES = {"aws": "aws", "google": "google", "databricks": "databricks"}
# `type.name[index].attribute` and `data.type.name[index].attribute` in an expression
REFERENCE = re.compile(
    r"(?<![\w.])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.(\w+)"
)


def schema_dir() -> Path | None:
    """`$LABCTL_PROVIDER_SCHEMAS`, else the first `shared/provider-schemas` above this file."""
    if os.environ.get("LABCTL_PROVIDER_SCHEMAS"):
        return Path(os.environ["LABCTL_PROVIDER_SCHEMAS"])
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "provider-schemas"
        if (candidate / "aws.json").is_file():
            return candidate
    return None


def unquote(label: str) -> str:
    return label.strip('"')


@dataclass(frozen=True, order=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unchecked: set[str] = field(default_factory=set)  # e.g. "resource null_resource"

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def extend(self, other: Report) -> None:
        self.problems += other.problems
        self.unchecked |= other.unchecked


class Schemas:
    """The provider schema files of one directory, loaded on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cache  # noqa: B019 - one instance per test session
    def provider_doc(self, provider: str) -> dict[str, Any] | None:
        name = FILES.get(provider)
        if name is None:
            return None
        return json.loads((self.directory / name).read_text(encoding="utf-8"))

    def _for_type(self, type_name: str) -> dict[str, Any] | None:
        provider = type_name.split("_", 1)[0]
        return self.provider_doc(provider) if provider in PREFIXES else None

    def resource(self, type_name: str) -> dict[str, Any] | None:
        doc = self._for_type(type_name)
        found = doc and doc["resource_schemas"].get(type_name)
        return found["block"] if found else None

    def data_source(self, type_name: str) -> dict[str, Any] | None:
        doc = self._for_type(type_name)
        found = doc and doc["data_source_schemas"].get(type_name)
        return found["block"] if found else None

    def provider(self, name: str) -> dict[str, Any] | None:
        doc = self.provider_doc(name)
        return doc["provider"]["block"] if doc else None

    def backend(self, name: str) -> dict[str, Any] | None:
        for provider in FILES:
            found = (self.provider_doc(provider) or {}).get("backend_schemas", {}).get(name)
            if found:
                return found["block"]
        return None


# `module.name.output` in an expression (module names may contain hyphens)
MODULE_REFERENCE = re.compile(r"(?<![\w.])module\.([A-Za-z][\w-]*)\.(\w+)")

# --- one body against one schema block -----------------------------------------------------------


def _is_hcl_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def check_body(
    schema: dict[str, Any], body: dict[str, Any], where: str, report: Report, *, json_syntax: bool
) -> None:
    """Walk one configuration body (HCL from python-hcl2, or Terraform JSON) against `schema`."""
    attrs: dict[str, Any] = schema.get("attributes", {})
    blocks: dict[str, Any] = schema.get("block_types", {})
    counts: dict[str, int] = {}
    dynamic: set[str] = set()
    for name, value in body.items():
        if name.startswith("__") or name in META:
            continue
        if name == "dynamic" and not json_syntax:
            for entry in value:
                for label, spec in entry.items():
                    if label.startswith("__"):
                        continue
                    inner = unquote(label)
                    if inner not in blocks:
                        report.add(where, f"dynamic block '{inner}' is not a block type here")
                        continue
                    dynamic.add(inner)
                    if _deprecated_block(blocks[inner]):
                        report.add(where, f"block '{inner}' is deprecated")
                    for content in spec.get("content", []):
                        check_body(blocks[inner]["block"], content, f"{where}.{inner}", report,
                                   json_syntax=False)  # fmt: skip
            continue
        if name in attrs:
            attr = attrs[name]
            if attr.get("computed") and not (attr.get("optional") or attr.get("required")):
                report.add(where, f"'{name}' is read-only (computed)")
            if attr.get("deprecated"):
                report.add(where, f"'{name}' is deprecated")
            if not json_syntax and _is_hcl_block(value):
                report.add(where, f"'{name}' is an attribute: write `{name} = ...`")
            elif (wrong := _literal_mismatch(attr.get("type"), value, json_syntax)) is not None:
                report.add(where, f"'{name}' takes a {_type_name(attr['type'])}, not {wrong}")
        elif name in blocks:
            items = _block_items(value, json_syntax)
            if items is None:
                report.add(where, f"'{name}' is a block: write `{name} {{ ... }}`")
                continue
            counts[name] = len(items)
            if _deprecated_block(blocks[name]):
                report.add(where, f"block '{name}' is deprecated")
            for item in items:
                check_body(blocks[name]["block"], item, f"{where}.{name}", report,
                           json_syntax=json_syntax)  # fmt: skip
        else:
            report.add(where, f"unsupported argument or block '{name}'")
    for name, attr in attrs.items():
        if attr.get("required") and name not in body:
            report.add(where, f"missing required argument '{name}'")
    for name, spec in blocks.items():
        n = counts.get(name, 0)
        if name in dynamic:  # the number of generated blocks is unknown: only the static ones
            if n > spec.get("max_items", n):
                report.add(where, f"{n} '{name}' blocks; at most {spec['max_items']}")
            continue
        if n < spec.get("min_items", 0):
            report.add(where, f"missing required block '{name}' (at least {spec['min_items']})")
        if n > spec.get("max_items", n):
            report.add(where, f"{n} '{name}' blocks; at most {spec['max_items']}")


def _deprecated_block(spec: dict[str, Any]) -> bool:
    """The dump marks a deprecated block on its nested `block`."""
    return bool(spec.get("deprecated") or spec["block"].get("deprecated"))


def _type_name(cty: Any) -> str:
    return cty if isinstance(cty, str) else cty[0]


def _literal_mismatch(cty: Any, value: Any, json_syntax: bool) -> str | None:
    """What a literal `value` is when it cannot convert to `cty` ("a string", ...); None when it
    can, or when it is an expression (unknown until plan)."""
    if isinstance(value, str):
        if "${" in value or "%{" in value:
            return None  # an expression or a template
        if not json_syntax and not (value.startswith('"') and value.endswith('"')):
            return None  # a bare expression (null, a reference) in python-hcl2's output
        text = value.strip('"') if not json_syntax else value
        if cty == "bool" and text not in ("true", "false"):
            return "a string"
        if cty == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", text):
            return "a string"
        if isinstance(cty, list) and cty[0] in ("list", "set", "map", "object"):
            return "a string"
        return None
    if isinstance(value, bool):
        return "a bool" if cty == "number" or isinstance(cty, list) else None
    if isinstance(value, int | float):
        return "a number" if cty == "bool" or isinstance(cty, list) else None
    if isinstance(value, list):
        return "a list" if cty in ("string", "number", "bool") else None
    if isinstance(value, dict):
        return "an object" if cty in ("string", "number", "bool") else None
    return None


def _block_items(value: Any, json_syntax: bool) -> list[dict[str, Any]] | None:
    """The bodies of a block written under one name, or None when it is not written as blocks."""
    if json_syntax:
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        return None
    return value if _is_hcl_block(value) else None


# --- references in expressions --------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def check_references(
    schemas: Schemas, parsed: dict[str, Any], where: str, declared: set[str], report: Report
) -> None:
    """Each `type.name.attr` / `data.type.name.attr` in `parsed` names a declared object and an
    attribute (or block) its schema has, not a deprecated one."""
    for text in _strings({k: v for k, v in parsed.items() if k != "__comments__"}):
        for data, type_name, name, attr in REFERENCE.findall(text):
            schema = schemas.data_source(type_name) if data else schemas.resource(type_name)
            if schema is None:
                continue  # not a type we know (or not a reference at all)
            address = f"{'data.' if data else ''}{type_name}.{name}"
            if address not in declared:
                report.add(where, f"reference to undeclared {address}")
            known = schema.get("attributes", {}).get(attr) or schema.get("block_types", {}).get(
                attr
            )
            if known is None:
                report.add(where, f"{address}.{attr}: no such attribute")
            elif known.get("deprecated"):
                report.add(where, f"{address}.{attr} is deprecated")


# --- whole files ---------------------------------------------------------------------------------


def parse_hcl(path: Path) -> dict[str, Any]:
    """One .tf file through python-hcl2 (cached on its text: each module parses once a session)."""
    return _parse(path.read_text(encoding="utf-8"))


@cache
def _parse(text: str) -> dict[str, Any]:
    import hcl2

    return hcl2.loads(text)


def check_module(schemas: Schemas, directory: Path) -> Report:
    """Every resource and data block of the module's .tf files, and the references between them."""
    report = Report()
    files = {p: parse_hcl(p) for p in sorted(directory.glob("*.tf"))}
    declared = declared_objects(directory)
    for path, parsed in files.items():
        for kind, lookup in (("resource", schemas.resource), ("data", schemas.data_source)):
            for entry in parsed.get(kind, []):
                for type_label, named in entry.items():
                    type_name = unquote(type_label)
                    for name, body in named.items():
                        if name.startswith("__"):
                            continue
                        address = f"{'data.' if kind == 'data' else ''}{type_name}.{unquote(name)}"
                        schema = lookup(type_name)
                        if schema is None:
                            report.unchecked.add(f"{kind} {type_name}")
                            continue
                        if schema.get("deprecated"):
                            report.add(f"{path.name}: {address}", "the type is deprecated")
                        check_body(schema, body, f"{path.name}: {address}", report,
                                   json_syntax=False)  # fmt: skip
        for entry in parsed.get("provider", []):
            for label in entry:
                if not label.startswith("__"):
                    report.add(path.name, f"provider block '{unquote(label)}' in a child module")
        # `moved` blocks hold addresses, not expressions: check_moved reads them
        expressions = {k: v for k, v in parsed.items() if k != "moved"}
        check_references(schemas, expressions, path.name, declared, report)
        for entry in parsed.get("module", []):
            for label, call in entry.items():
                if not label.startswith("__"):
                    source = directory / unquote(call.get("source", ""))
                    check_module_call(call, source, f"{path.name}: module.{unquote(label)}", report)
    calls = {
        unquote(label): directory / unquote(call.get("source", ""))
        for parsed in files.values()
        for entry in parsed.get("module", [])
        for label, call in entry.items()
        if not label.startswith("__")
    }
    for path, parsed in files.items():
        check_module_outputs({k: v for k, v in parsed.items() if k != "moved"}, calls, path.name,
                             report)  # fmt: skip
        check_moved(parsed, declared, calls, path.name, report)
    return report


def declared_objects(directory: Path) -> set[str]:
    """`type.name` and `data.type.name` of every resource and data block of the module."""
    declared: set[str] = set()
    for path in sorted(directory.glob("*.tf")):
        parsed = parse_hcl(path)
        for kind, prefix in (("resource", ""), ("data", "data.")):
            for entry in parsed.get(kind, []):
                for type_label, named in entry.items():
                    for name in named:
                        if not name.startswith("__"):
                            declared.add(f"{prefix}{unquote(type_label)}.{unquote(name)}")
    return declared


def check_moved(
    parsed: dict[str, Any], declared: set[str], calls: dict[str, Path], where: str, report: Report
) -> None:
    """Each `moved` block leaves an address this module no longer declares for one it declares,
    or one a module it calls declares (`module.<call>.<type>.<name>`)."""
    for block in parsed.get("moved", []):
        old, new = (
            str(block.get(k, "")).removeprefix("${").removesuffix("}") for k in ("from", "to")
        )
        if old in declared:
            report.add(where, f"moved from {old}, which is still declared")
        call, _, inside = new.removeprefix("module.").partition(".")
        if not new.startswith("module."):
            found = new in declared
        else:
            found = call in calls and inside in declared_objects(calls[call])
        if not found:
            report.add(where, f"moved to {new}, which is not declared")


def module_outputs(directory: Path) -> set[str]:
    """The module's output names (outputs.tf)."""
    path = directory / "outputs.tf"
    if not path.is_file():
        return set()
    return {
        unquote(label)
        for entry in parse_hcl(path).get("output", [])
        for label in entry
        if not label.startswith("__")
    }


def check_module_outputs(
    parsed: dict[str, Any], calls: dict[str, Path], where: str, report: Report
) -> None:
    """Each `module.<name>.<output>` in `parsed` names a module call and an output of it."""
    for text in _strings({k: v for k, v in parsed.items() if k != "__comments__"}):
        if "${" not in text:
            continue  # a literal (a description naming module.lab.bucket), not an expression
        for name, output in MODULE_REFERENCE.findall(text):
            if name not in calls:
                report.add(where, f"reference to undeclared module.{name}")
            elif output not in module_outputs(calls[name]):
                report.add(where, f"module.{name}.{output}: no such output")


def check_module_call(
    call: dict[str, Any], source: Path, where: str, report: Report, *, json_syntax: bool = False
) -> None:
    """A `module` call's inputs against the variables of the module at `source`: unknown and
    missing required inputs, literals of the wrong type."""
    if not (source / "variables.tf").is_file():
        report.add(where, f"source {source.name} is not a module with a variables.tf")
        return
    variables = module_variables(source)
    types = module_variable_types(source)
    for key, value in call.items():
        if key in types and (wrong := _literal_mismatch(types[key], value, json_syntax)):
            report.add(where, f"input '{key}' takes a {_type_name(types[key])}, not {wrong}")
    for key in call:
        if (
            key not in variables
            and key not in ("source", "version", *META)
            and not key.startswith("__")
        ):
            report.add(where, f"input '{key}' is not a variable of the module")
    for key, required in variables.items():
        if required and call.get(key) is None:
            report.add(where, f"missing required input '{key}'")


def module_variable_types(directory: Path) -> dict[str, Any]:
    """The module's variables' types, in the schema's terms ("string", ["list", ...]...), for
    the simple ones (string, number, bool, list/set/tuple, map/object); others are left out."""
    found: dict[str, Any] = {}
    for entry in parse_hcl(directory / "variables.tf").get("variable", []):
        for label, body in entry.items():
            text = str(body.get("type", "")).removeprefix("${").removesuffix("}")
            head = text.split("(", 1)[0]
            if head in ("string", "number", "bool"):
                found[unquote(label)] = head
            elif head in ("list", "set", "tuple", "map", "object"):
                found[unquote(label)] = [head, "dynamic"]
    return found


def module_variables(directory: Path) -> dict[str, bool]:
    """The module's input variables: name -> required (declared without a default)."""
    parsed = parse_hcl(directory / "variables.tf")
    found: dict[str, bool] = {}
    for entry in parsed.get("variable", []):
        for label, body in entry.items():
            if not label.startswith("__"):
                found[unquote(label)] = "default" not in body
    return found


def module_constraints(directory: Path) -> dict[str, dict[str, str]]:
    """`required_providers` of the module's versions.tf, as {name: {source, version}}."""
    parsed = parse_hcl(directory / "versions.tf")
    found: dict[str, dict[str, str]] = {}
    for terraform in parsed.get("terraform", []):
        for required in terraform.get("required_providers", []):
            for name, spec in required.items():
                if not name.startswith("__"):
                    found[name] = {k: unquote(v) for k, v in spec.items()}
    return found


def check_root(
    schemas: Schemas, root: dict[str, Any], module_dir: Path, root_dir: Path | None = None
) -> Report:
    """A rendered main.tf.json: provider and backend blocks against their schemas, and the
    module calls against the modules' variables: each call's `source` under `root_dir` (the
    rendered folder) when given, else every call against `module_dir`."""
    report = Report()
    terraform = root.get("terraform", {})
    for name, config in (terraform.get("backend") or {}).items():
        schema = schemas.backend(name)
        if schema is None:
            report.unchecked.add(f"backend {name}")
        else:
            check_body(schema, config, f"terraform.backend.{name}", report, json_syntax=True)
    for name, configs in (root.get("provider") or {}).items():
        schema = schemas.provider(name)
        if schema is None:
            report.unchecked.add(f"provider {name}")
            continue
        for config in configs if isinstance(configs, list) else [configs]:
            check_body(schema, config, f"provider.{name}", report, json_syntax=True)
    for provider in terraform.get("required_providers", {}):
        if schemas.provider(provider) is None:
            report.unchecked.add(f"provider {provider}")
    calls: dict[str, Path] = {}
    for name, call in (root.get("module") or {}).items():
        source = module_dir if root_dir is None else root_dir / call.get("source", "")
        calls[name] = source
        check_module_call(call, source, f"module.{name}", report, json_syntax=True)
    check_module_outputs(root, calls, "main.tf.json", report)
    return report
